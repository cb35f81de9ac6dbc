# Empty dependencies file for cli_parse_test.
# This may be replaced when dependencies are built.
