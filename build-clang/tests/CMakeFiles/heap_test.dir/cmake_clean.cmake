file(REMOVE_RECURSE
  "CMakeFiles/heap_test.dir/heap_test.c.o"
  "CMakeFiles/heap_test.dir/heap_test.c.o.d"
  "heap_test"
  "heap_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/heap_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
