"""/todo: 我的待办, the workbench's home."""
