file(REMOVE_RECURSE
  "CMakeFiles/rendezvous_test.dir/rendezvous_test.c.o"
  "CMakeFiles/rendezvous_test.dir/rendezvous_test.c.o.d"
  "rendezvous_test"
  "rendezvous_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/rendezvous_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
