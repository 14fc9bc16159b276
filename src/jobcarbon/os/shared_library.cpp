#include <jobcarbon/os/shared_library.hpp>

#include <utility>

#include <dlfcn.h>

namespace jobcarbon::os {

std::expected<SharedLibrary, std::string> SharedLibrary::open(const std::string& name) {
  dlerror();  // clear a stale error so the text below belongs to this call
  void* handle = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = dlerror();
    return std::unexpected(error != nullptr ? std::string(error) : name + ": dlopen failed");
  }
  return SharedLibrary(handle, name);
}

SharedLibrary::SharedLibrary(SharedLibrary&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)), name_(std::move(other.name_)) {}

SharedLibrary& SharedLibrary::operator=(SharedLibrary&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) ::dlclose(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    name_ = std::move(other.name_);
  }
  return *this;
}

SharedLibrary::~SharedLibrary() {
  if (handle_ != nullptr) ::dlclose(handle_);
}

std::expected<void*, std::string> SharedLibrary::symbol(const char* name) const {
  if (handle_ == nullptr) return std::unexpected(std::string(name) + ": library not open");
  dlerror();
  void* address = ::dlsym(handle_, name);
  // A symbol may legitimately be null; only dlerror() tells a missing one apart.
  if (const char* error = dlerror(); error != nullptr) return std::unexpected(std::string(error));
  if (address == nullptr) return std::unexpected(std::string(name) + ": symbol is null");
  return address;
}

}  // namespace jobcarbon::os
