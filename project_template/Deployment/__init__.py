"""Deployment: select the best run, register and promote it, deploy the champion, register in IDS."""
