file(REMOVE_RECURSE
  "CMakeFiles/example_rendezvous.dir/__/examples/rendezvous.c.o"
  "CMakeFiles/example_rendezvous.dir/__/examples/rendezvous.c.o.d"
  "example_rendezvous"
  "example_rendezvous.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/example_rendezvous.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
