"""Where lines come from: files and pipes (replay), a child process, tailed log files."""
