file(REMOVE_RECURSE
  "libmbx_cli_parse.a"
)
