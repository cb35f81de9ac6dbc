file(REMOVE_RECURSE
  "CMakeFiles/liveness_test.dir/liveness_test.c.o"
  "CMakeFiles/liveness_test.dir/liveness_test.c.o.d"
  "liveness_test"
  "liveness_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/liveness_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
