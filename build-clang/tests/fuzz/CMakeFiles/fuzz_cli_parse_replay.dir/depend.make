# Empty dependencies file for fuzz_cli_parse_replay.
# This may be replaced when dependencies are built.
