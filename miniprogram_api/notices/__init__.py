"""What the mini program reports about WeChat subscribe-message consent."""
