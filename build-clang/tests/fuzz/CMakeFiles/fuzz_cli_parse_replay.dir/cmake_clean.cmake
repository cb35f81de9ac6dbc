file(REMOVE_RECURSE
  "CMakeFiles/fuzz_cli_parse_replay.dir/fuzz_cli_parse.c.o"
  "CMakeFiles/fuzz_cli_parse_replay.dir/fuzz_cli_parse.c.o.d"
  "CMakeFiles/fuzz_cli_parse_replay.dir/replay.c.o"
  "CMakeFiles/fuzz_cli_parse_replay.dir/replay.c.o.d"
  "fuzz_cli_parse_replay"
  "fuzz_cli_parse_replay.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/fuzz_cli_parse_replay.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
