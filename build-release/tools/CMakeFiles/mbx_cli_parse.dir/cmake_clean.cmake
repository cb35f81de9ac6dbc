file(REMOVE_RECURSE
  "CMakeFiles/mbx_cli_parse.dir/parse.c.o"
  "CMakeFiles/mbx_cli_parse.dir/parse.c.o.d"
  "libmbx_cli_parse.a"
  "libmbx_cli_parse.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/mbx_cli_parse.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
