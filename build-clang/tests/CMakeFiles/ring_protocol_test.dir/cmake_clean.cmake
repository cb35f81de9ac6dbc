file(REMOVE_RECURSE
  "CMakeFiles/ring_protocol_test.dir/ring_protocol_test.c.o"
  "CMakeFiles/ring_protocol_test.dir/ring_protocol_test.c.o.d"
  "ring_protocol_test"
  "ring_protocol_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/ring_protocol_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
