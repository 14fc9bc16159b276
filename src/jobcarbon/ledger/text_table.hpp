// An aligned text table for terminals, shared by the report and show renderers. Pure.
#pragma once

#include <string>
#include <vector>

namespace jobcarbon::ledger {

// Return ROWS (the first is the header) as lines of columns separated by two spaces, each column
// as wide as its widest cell (counted in UTF-8 characters), cells right-aligned where RIGHT[i] is
// true, no trailing blanks, control characters shown as '?'. "" when ROWS is empty.
std::string aligned_table(const std::vector<std::vector<std::string>>& rows,
                          const std::vector<bool>& right);

// Return S as one CSV field: quoted (with "" for ") when it holds a comma, quote or line break.
std::string csv_cell(const std::string& s);

}  // namespace jobcarbon::ledger
