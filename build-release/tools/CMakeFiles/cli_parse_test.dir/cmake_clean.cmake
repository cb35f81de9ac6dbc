file(REMOVE_RECURSE
  "CMakeFiles/cli_parse_test.dir/__/tests/cli/parse_test.c.o"
  "CMakeFiles/cli_parse_test.dir/__/tests/cli/parse_test.c.o.d"
  "cli_parse_test"
  "cli_parse_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/cli_parse_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
