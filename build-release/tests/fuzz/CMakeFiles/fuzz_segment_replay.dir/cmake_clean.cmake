file(REMOVE_RECURSE
  "CMakeFiles/fuzz_segment_replay.dir/fuzz_segment.c.o"
  "CMakeFiles/fuzz_segment_replay.dir/fuzz_segment.c.o.d"
  "CMakeFiles/fuzz_segment_replay.dir/replay.c.o"
  "CMakeFiles/fuzz_segment_replay.dir/replay.c.o.d"
  "fuzz_segment_replay"
  "fuzz_segment_replay.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/fuzz_segment_replay.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
