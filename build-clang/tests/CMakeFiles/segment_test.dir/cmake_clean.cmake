file(REMOVE_RECURSE
  "CMakeFiles/segment_test.dir/segment_test.c.o"
  "CMakeFiles/segment_test.dir/segment_test.c.o.d"
  "segment_test"
  "segment_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/segment_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
