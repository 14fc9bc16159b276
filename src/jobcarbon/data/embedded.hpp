// Access to the data/*.csv tables compiled into the binary (see cmake/embed.cmake).
#pragma once

#include <optional>
#include <string_view>

namespace jobcarbon::data {

// Return the content of data/NAME as embedded at build time, or std::nullopt if there is none.
std::optional<std::string_view> embedded_file(std::string_view name);

}  // namespace jobcarbon::data
