"""The lab: Mac-like test hosts over SSH, and the stand-ins for macOS tools."""
