"""The CLI's commands, one module each; ``inbox_agent.cli`` parses the arguments and calls
them. Each handler takes the parsed arguments and returns the exit status."""
