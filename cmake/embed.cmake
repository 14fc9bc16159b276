# Embeds the tables under data/ into the binary at build time, so `jobcarbon` needs no data
# files at run time (a file given on the command line or in the config still overrides them).
# Produces the library jobcarbon_embedded_data with jobcarbon/data/embedded.hpp.
file(GLOB JOBCARBON_DATA_FILES CONFIGURE_DEPENDS ${JOBCARBON_DATA_DIR}/*.csv)
set(embedded_cpp ${CMAKE_BINARY_DIR}/generated/embedded_data.cpp)
add_custom_command(
  OUTPUT ${embedded_cpp}
  COMMAND ${CMAKE_COMMAND} -DOUT=${embedded_cpp} -DDATA_DIR=${JOBCARBON_DATA_DIR}
          -P ${CMAKE_SOURCE_DIR}/cmake/embed_generate.cmake
  DEPENDS ${JOBCARBON_DATA_FILES} ${CMAKE_SOURCE_DIR}/cmake/embed_generate.cmake
  COMMENT "Embedding data/*.csv")
add_library(jobcarbon_embedded_data STATIC ${embedded_cpp})
target_link_libraries(jobcarbon_embedded_data PUBLIC standard_settings)
