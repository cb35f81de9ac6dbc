file(REMOVE_RECURSE
  "CMakeFiles/sleepers_test.dir/sleepers_test.c.o"
  "CMakeFiles/sleepers_test.dir/sleepers_test.c.o.d"
  "sleepers_test"
  "sleepers_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/sleepers_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
