// Writing a file so that readers see either the old content or the complete new content.
//
// The bytes go to a temporary file in the target's folder (same file system, so the final
// rename is atomic) and replace the target only on commit(). If the writer is destroyed
// without commit() (an error was thrown half way), the temporary file is removed and the
// target is untouched: a failed run leaves no partial output.
#pragma once
#include <cstdio>
#include <filesystem>
#include <string_view>

namespace dyad {

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void write(std::string_view s) { write(s.data(), s.size()); }
  size_t written() const { return written_; }
  void commit();

 private:
  std::filesystem::path target_, temp_;
  std::FILE* file_ = nullptr;
  size_t written_ = 0;
  bool committed_ = false;
};

// Throws Error if `output` names the same file as `input` (after resolving links), so an
// output path can never overwrite the model it was made from.
void refuse_overwrite(const std::filesystem::path& output, const std::filesystem::path& input);

}  // namespace dyad
