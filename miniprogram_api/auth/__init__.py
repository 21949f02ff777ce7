"""Sign-in for the mini program: password, WeChat code, and binding WeChat to an account."""
