# Empty dependencies file for mbx_cli_parse.
# This may be replaced when dependencies are built.
