find_package(CLI11 CONFIG REQUIRED)
list(APPEND sluice_libs_tools CLI11::CLI11)
