file(REMOVE_RECURSE
  "CMakeFiles/poll_test.dir/poll_test.c.o"
  "CMakeFiles/poll_test.dir/poll_test.c.o.d"
  "poll_test"
  "poll_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/poll_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
