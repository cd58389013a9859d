"""The desired state of the Mac as data: validated settings, where things live,
and the files the deploy installs. Read by deploy.py, render.py and the tests."""
