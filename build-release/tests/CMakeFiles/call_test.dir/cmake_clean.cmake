file(REMOVE_RECURSE
  "CMakeFiles/call_test.dir/call_test.c.o"
  "CMakeFiles/call_test.dir/call_test.c.o.d"
  "call_test"
  "call_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/call_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
