"""Models: each declared model on the Mac, pulled through its own Ollama when missing (or newer in the
registry, with ollama_models_update), and with ollama_models_prune, no other model."""

from facts.target import current
from operations import models
from private_ollama.desired_state.settings import duration_ms

mac = current()
settings, layout = mac.settings, mac.layout

for model in settings.declared_models:
    models.present(
        name=f"Ensure the model {model.shortest} is on the Mac",
        model=model.shortest,
        port=settings.ollama_port,
        pull_timeout_s=duration_ms(settings.ollama_pull_timeout) // 1000,
        update=settings.ollama_models_update,
        facts=mac.models_read,
    )

if settings.ollama_models_prune:
    declared = {model.key for model in settings.declared_models}
    for key, listed in mac.models()["models"].items():
        if key not in declared:
            models.absent(
                name=f"Ensure the model {listed['name']} is gone (not in ollama_models)",
                model=listed["name"],
                ollama=layout.brew_bin("ollama"),
                port=settings.ollama_port,
            )
