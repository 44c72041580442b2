"""The task side: a task's examples read from the hub, a folder or files, checked
(labels, columns, quoting) and split 85/15. No torch.
"""
