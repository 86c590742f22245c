"""The native runner: the platform's services as supervised local processes on 127.0.0.1."""
