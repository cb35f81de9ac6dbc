file(REMOVE_RECURSE
  "CMakeFiles/durable_test.dir/durable_test.c.o"
  "CMakeFiles/durable_test.dir/durable_test.c.o.d"
  "durable_test"
  "durable_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/durable_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
