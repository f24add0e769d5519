"""The command line: parse, call the library, print. Nothing below imports this."""
