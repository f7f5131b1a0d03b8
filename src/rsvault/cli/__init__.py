"""The `rsvault` command line: parse, call one service, render. Nothing else lives here."""
