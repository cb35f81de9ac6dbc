file(REMOVE_RECURSE
  "CMakeFiles/example_durable_jobs.dir/__/examples/durable_jobs.c.o"
  "CMakeFiles/example_durable_jobs.dir/__/examples/durable_jobs.c.o.d"
  "example_durable_jobs"
  "example_durable_jobs.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/example_durable_jobs.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
