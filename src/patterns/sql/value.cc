// Value, Row and Rows (include/wharf/sql.h): typed access and messages.
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "base/check.h"
#include "wharf/sql.h"

namespace wharf::sql {

std::string_view dialect_name(Dialect dialect) {
  switch (dialect) {
    case Dialect::kSqlite:
      return "sqlite";
    case Dialect::kPostgres:
      return "postgres";
  }
  return "unknown";
}

std::string_view value_type_name(Value::Type type) {
  switch (type) {
    case Value::Type::kNull:
      return "NULL";
    case Value::Type::kInt64:
      return "int64";
    case Value::Type::kDouble:
      return "double";
    case Value::Type::kText:
      return "text";
    case Value::Type::kBlob:
      return "blob";
  }
  return "unknown";
}

namespace {

Error mismatch(const Value& value, std::string_view wanted) {
  return make_error(ErrorCode::kInvalidArgument, "expected {}, found {}", wanted,
                    value_type_name(value.type()));
}

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};

}  // namespace

Result<std::int64_t> Value::as_int64() const {
  if (const auto* v = std::get_if<std::int64_t>(&data_)) return *v;
  return fail(mismatch(*this, "int64"));
}

Result<double> Value::as_double() const {
  if (const auto* v = std::get_if<double>(&data_)) return *v;
  if (const auto* v = std::get_if<std::int64_t>(&data_)) return static_cast<double>(*v);
  return fail(mismatch(*this, "double"));
}

Result<std::string_view> Value::as_text() const {
  if (const auto* v = std::get_if<std::string>(&data_)) return std::string_view(*v);
  return fail(mismatch(*this, "text"));
}

Result<std::span<const std::uint8_t>> Value::as_blob() const {
  if (const auto* v = std::get_if<Blob>(&data_)) return std::span<const std::uint8_t>(*v);
  return fail(mismatch(*this, "blob"));
}

template <typename T>
Result<T> Value::as() const {
  if constexpr (IsOptional<T>::value) {
    if (is_null()) return T{};
    WHARF_ASSIGN_OR_RETURN(auto v, as<typename T::value_type>());
    return T{std::move(v)};
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    return as_int64();
  } else if constexpr (std::is_same_v<T, int>) {
    WHARF_ASSIGN_OR_RETURN(std::int64_t v, as_int64());
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
      return fail(ErrorCode::kOutOfRange, "{} does not fit an int", v);
    }
    return static_cast<int>(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    WHARF_ASSIGN_OR_RETURN(std::int64_t v, as_int64());
    return v != 0;
  } else if constexpr (std::is_same_v<T, double>) {
    return as_double();
  } else if constexpr (std::is_same_v<T, std::string>) {
    WHARF_ASSIGN_OR_RETURN(std::string_view v, as_text());
    return std::string(v);
  } else {
    static_assert(std::is_same_v<T, Blob>, "Value::as<T>: unsupported T");
    WHARF_ASSIGN_OR_RETURN(auto v, as_blob());
    return Blob(v.begin(), v.end());
  }
}

template Result<std::int64_t> Value::as<std::int64_t>() const;
template Result<int> Value::as<int>() const;
template Result<bool> Value::as<bool>() const;
template Result<double> Value::as<double>() const;
template Result<std::string> Value::as<std::string>() const;
template Result<Blob> Value::as<Blob>() const;
template Result<std::optional<std::int64_t>> Value::as<std::optional<std::int64_t>>() const;
template Result<std::optional<int>> Value::as<std::optional<int>>() const;
template Result<std::optional<bool>> Value::as<std::optional<bool>>() const;
template Result<std::optional<double>> Value::as<std::optional<double>>() const;
template Result<std::optional<std::string>> Value::as<std::optional<std::string>>() const;
template Result<std::optional<Blob>> Value::as<std::optional<Blob>>() const;

std::string Value::to_string() const {
  switch (type()) {
    case Type::kNull:
      return "NULL";
    case Type::kInt64:
      return fmt::format("{}", std::get<std::int64_t>(data_));
    case Type::kDouble:
      return fmt::format("{}", std::get<double>(data_));
    case Type::kText: {
      const auto& text = std::get<std::string>(data_);
      constexpr std::size_t kShownMax = 64;  // keep messages one line long
      if (text.size() > kShownMax) {
        return fmt::format("'{}...' ({} bytes)", text.substr(0, kShownMax), text.size());
      }
      return fmt::format("'{}'", text);
    }
    case Type::kBlob: {
      const auto& blob = std::get<Blob>(data_);
      std::string hex;
      for (std::size_t i = 0; i < blob.size() && i < 32; ++i) hex += fmt::format("{:02x}", blob[i]);
      if (blob.size() > 32) return fmt::format("x'{}...' ({} bytes)", hex, blob.size());
      return fmt::format("x'{}'", hex);
    }
  }
  return "?";
}

const Value& Row::operator[](std::size_t index) const {
  WHARF_CHECK(index < values_.size(), "row has {} columns, index {}", values_.size(), index);
  return values_[index];
}

Result<std::size_t> Row::column_index(std::string_view column) const {
  for (std::size_t i = 0; i < columns_->size(); ++i) {
    if ((*columns_)[i] == column) return i;
  }
  return fail(ErrorCode::kNotFound, "no column named '{}'", column);
}

Error Row::out_of_range(std::size_t index) const {
  return make_error(ErrorCode::kOutOfRange, "column {} of a row of {}", index, values_.size());
}

Error Row::column_error(std::size_t index, const Error& error) const {
  if (index < columns_->size())
    return error.with_context(fmt::format("column '{}'", (*columns_)[index]));
  return error.with_context(fmt::format("column {}", index));
}

const Row& Rows::operator[](std::size_t index) const {
  WHARF_CHECK(index < rows_.size(), "{} rows, index {}", rows_.size(), index);
  return rows_[index];
}

Status Rows::check_scalar() const {
  if (rows_.empty()) return fail(ErrorCode::kNotFound, "the query returned no rows");
  if (rows_.size() > 1) {
    return fail(ErrorCode::kInvalidArgument, "expected one row, the query returned {}",
                rows_.size());
  }
  return ok();
}

}  // namespace wharf::sql
