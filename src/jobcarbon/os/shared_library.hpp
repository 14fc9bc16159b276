// Loading a shared library at run time (dlopen/dlsym). Only this file calls the dynamic loader,
// so code above os/ can be pointed at a fake library by path and never links the real one.
#pragma once

#include <expected>
#include <string>

namespace jobcarbon::os {

// An open shared library; closed (dlclose) when destroyed. Move-only.
class SharedLibrary {
 public:
  // Return the library loaded from name (a file name searched the way dlopen searches, or a
  // path), with every symbol resolved now (RTLD_NOW) and kept out of the global namespace
  // (RTLD_LOCAL); or dlerror()'s text when it cannot be loaded.
  static std::expected<SharedLibrary, std::string> open(const std::string& name);

  SharedLibrary(SharedLibrary&& other) noexcept;
  SharedLibrary& operator=(SharedLibrary&& other) noexcept;
  SharedLibrary(const SharedLibrary&) = delete;
  SharedLibrary& operator=(const SharedLibrary&) = delete;
  ~SharedLibrary();

  // Return the address of the symbol, or "NAME: <dlerror text>" when the library lacks it.
  std::expected<void*, std::string> symbol(const char* name) const;

  // Return the symbol as a pointer to a function of type F. The caller vouches for F: the
  // loader knows names, not types.
  template <typename F>
  std::expected<F*, std::string> function(const char* name) const {
    auto address = symbol(name);
    if (!address) return std::unexpected(address.error());
    return reinterpret_cast<F*>(*address);
  }

  // Return the name the library was opened with.
  const std::string& name() const { return name_; }

 private:
  SharedLibrary(void* handle, std::string name) : handle_(handle), name_(std::move(name)) {}

  void* handle_ = nullptr;
  std::string name_;
};

}  // namespace jobcarbon::os
