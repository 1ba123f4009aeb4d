#!/usr/bin/env python3
"""Generates Wharf's Kafka protocol codecs from Apache Kafka's JSON message schemas.

Reads <schemas>/<Name>Request.json and <Name>Response.json for every API in APIS (plus the
request/response headers and the consumer-protocol data messages) and writes C++20 into
<out> (normally src/kafka/protocol/generated/):

  <api>.h / <api>.cc       one struct per request and response, with nested structs for
                           []Struct fields and commonStructs, and decode()/encode()
  message_headers.h/.cc    RequestHeader (v0-v2) and ResponseHeader (v0-v1)
  consumer_protocol.h/.cc  ConsumerProtocolSubscription / ConsumerProtocolAssignment
  api_table.h/.cc          {api_key, name, min, max, first flexible} and header versions
  messages.h               all of the above plus for_each_api()
  test_samples.h/.cc       fill_sample() for every struct (test support only)

Only fields that exist in a generated version are emitted. Version handling is per field:
a field is read and written only in its "versions" (minus its "taggedVersions", where it lives
in the tagged-field section instead); strings, bytes, records and arrays use the compact
encodings in the message's "flexibleVersions" (or the field's own "flexibleVersions"); a field
may be null only in its "nullableVersions".

Python 3 standard library only; the output is deterministic (it is committed and a CMake target
diffs a fresh run against it). The schemas' "about" prose is never copied into the output.

Usage: python3 tools/kafka_codegen/generate.py --schemas ../shared/kafka-schemas \
           --out src/kafka/protocol/generated
"""

import argparse
import json
import os
import re
import sys
import textwrap

# (API name as in the schema file names, highest version to generate). Requests and responses
# share the range; the lowest version is the schema's own. These are the versions the codec can
# parse, not what the broker advertises (that table is hand-kept in the broker).
APIS = [
    ("Produce", 7),
    ("Fetch", 11),
    ("ListOffsets", 4),
    ("Metadata", 8),
    ("OffsetCommit", 7),
    ("OffsetFetch", 7),
    ("FindCoordinator", 2),
    ("JoinGroup", 5),
    ("Heartbeat", 3),
    ("LeaveGroup", 3),
    ("SyncGroup", 3),
    ("DescribeGroups", 4),
    ("ListGroups", 4),
    ("SaslHandshake", 1),
    ("ApiVersions", 3),
    ("CreateTopics", 4),
    ("DeleteTopics", 3),
    ("DeleteRecords", 2),
    ("InitProducerId", 4),
    ("OffsetForLeaderEpoch", 4),
    ("DescribeConfigs", 3),
    ("DescribeLogDirs", 4),
    ("SaslAuthenticate", 1),
    ("CreatePartitions", 1),
    ("DeleteGroups", 1),
    ("OffsetDelete", 0),
    ("AlterConfigs", 1),
    ("IncrementalAlterConfigs", 1),
    ("DescribeCluster", 1),
    ("DescribeProducers", 0),
]

# Output file stem -> messages that are not requests or responses (all schema versions).
OTHER_FILES = [
    ("message_headers", ["RequestHeader", "ResponseHeader"]),
    ("consumer_protocol", ["ConsumerProtocolSubscription", "ConsumerProtocolAssignment"]),
]

# The ApiVersions response always uses response header v0 (KIP-511: a client that does not yet
# know the broker's versions must be able to read it).
RESPONSE_HEADER_V0_ALWAYS = {"ApiVersions"}

NAMESPACE = "wharf::kafka::protocol"
INCLUDE_DIR = "kafka/protocol/generated"

SCALARS = {
    "bool": "bool",
    "int8": "std::int8_t",
    "int16": "std::int16_t",
    "uint16": "std::uint16_t",
    "int32": "std::int32_t",
    "int64": "std::int64_t",
    "float64": "double",
    "uuid": "Uuid",
}
INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
CPP_KEYWORDS = set(
    """alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t
    char16_t char32_t class compl concept const consteval constexpr constinit const_cast
    continue co_await co_return co_yield decltype default delete do double dynamic_cast else
    enum explicit export extern false float for friend goto if inline int long mutable
    namespace new noexcept not not_eq nullptr operator or or_eq private protected public
    register reinterpret_cast requires return short signed sizeof static static_assert
    static_cast struct switch template this thread_local throw true try typedef typeid
    typename union unsigned using virtual void volatile wchar_t while xor xor_eq
    decode encode""".split())


class SchemaError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Reading schemas


def strip_comments(text):
    """Removes // comments outside string literals (the schemas are JSON plus comments)."""
    out = []
    i = 0
    in_string = False
    while i < len(text):
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def load_schema(schemas_dir, name):
    path = os.path.join(schemas_dir, name + ".json")
    with open(path, encoding="utf-8") as f:
        return json.loads(strip_comments(f.read()))


def parse_versions(spec, what):
    """'none', 'N', 'N+' or 'A-B' -> (lo, hi) with hi None for open-ended; None for 'none'."""
    spec = spec.strip()
    if spec == "none":
        return None
    m = re.fullmatch(r"(\d+)\+", spec)
    if m:
        return (int(m.group(1)), None)
    m = re.fullmatch(r"(\d+)-(\d+)", spec)
    if m:
        return (int(m.group(1)), int(m.group(2)))
    m = re.fullmatch(r"\d+", spec)
    if m:
        return (int(spec), int(spec))
    raise SchemaError(f"{what}: bad version spec {spec!r}")


def version_set(spec, domain, what):
    """The versions of `spec` that are in `domain` (a set of ints)."""
    r = parse_versions(spec, what)
    if r is None:
        return set()
    lo, hi = r
    return {v for v in domain if v >= lo and (hi is None or v <= hi)}


def snake_case(name):
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    s = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s)
    return s.lower()


# ---------------------------------------------------------------------------------------------
# Model


class Field:
    def __init__(self, owner, spec, usage):
        self.name = spec["name"]
        self.cpp_name = snake_case(self.name)
        what = f"{owner}.{self.name}"
        if self.cpp_name in CPP_KEYWORDS:
            raise SchemaError(f"{what}: C++ name {self.cpp_name} is reserved")
        self.type = spec["type"]
        self.is_array = self.type.startswith("[]")
        self.base = self.type[2:] if self.is_array else self.type
        self.present = version_set(spec["versions"], usage, what)
        self.tagged = version_set(spec.get("taggedVersions", "none"), usage, what)
        if self.tagged and "tag" not in spec:
            raise SchemaError(f"{what}: taggedVersions without tag")
        self.tag = spec.get("tag")
        if not self.tagged <= self.present:
            raise SchemaError(f"{what}: taggedVersions outside versions")
        self.regular = self.present - self.tagged
        self.nullable = version_set(spec.get("nullableVersions", "none"), usage, what)
        self.nullable &= self.present
        self.flex_override = None
        if "flexibleVersions" in spec:
            self.flex_override = version_set(spec["flexibleVersions"], usage, what)
        self.default = spec.get("default")
        self.struct = None  # Struct, for struct and []struct fields
        self.what = what

    @property
    def is_struct(self):
        return self.base not in SCALARS and self.base not in ("string", "bytes", "records")

    def element_cpp(self):
        if self.is_struct:
            return self.struct.name
        if self.base in SCALARS:
            return SCALARS[self.base]
        return {"string": "std::string", "bytes": "Bytes"}[self.base]

    def cpp_type(self):
        nullable = bool(self.nullable)
        if self.is_array:
            t = f"std::vector<{self.element_cpp()}>"
            return f"std::optional<{t}>" if nullable else t
        if self.base == "records":
            return "std::optional<ByteBuffer>"
        if self.base in SCALARS:
            if nullable:
                raise SchemaError(f"{self.what}: nullable {self.base}")
            return SCALARS[self.base]
        t = self.element_cpp()
        return f"std::optional<{t}>" if nullable else t

    def initializer(self):
        """The default member initializer (including ' = ' or '{}'), or '' for none."""
        d = self.default
        if self.is_array:
            if self.nullable and d != "null":
                return "{std::in_place}"  # present and empty, as in Kafka
            if d not in (None, "null") or (d == "null" and not self.nullable):
                raise SchemaError(f"{self.what}: bad array default {d!r}")
            return ""
        if self.base in INT_RANGES:
            value = 0 if d is None else (d if isinstance(d, int) else int(str(d), 0))
            lo, hi = INT_RANGES[self.base]
            if not lo <= value <= hi:
                raise SchemaError(f"{self.what}: default {d!r} out of range")
            if value == lo and lo < 0:
                return f" = {value + 1} - 1"  # the most negative literal is not a literal
            return f" = {value}"
        if self.base == "bool":
            if d not in (None, "true", "false", True, False):
                raise SchemaError(f"{self.what}: bad bool default {d!r}")
            return " = true" if d in ("true", True) else " = false"
        if self.base == "float64":
            return f" = {float(d or 0)!r}"
        if self.base == "uuid":
            if d not in (None, "", "AAAAAAAAAAAAAAAAAAAAAA"):
                raise SchemaError(f"{self.what}: uuid default {d!r} unsupported")
            return "{}"
        if self.base == "records":
            return ""  # null, as in Kafka
        if self.base == "string":
            if d == "null":
                if not self.nullable:
                    raise SchemaError(f"{self.what}: null default on non-nullable string")
                return ""
            if self.nullable:
                return f"{{std::in_place, {cpp_string(d)}}}" if d else "{std::in_place}"
            return f" = {cpp_string(d)}" if d else ""
        if self.base == "bytes":
            if d not in (None, "", "null"):
                raise SchemaError(f"{self.what}: bytes default {d!r} unsupported")
            if d == "null" and not self.nullable:
                raise SchemaError(f"{self.what}: null default on non-nullable bytes")
            return "{std::in_place}" if self.nullable and d != "null" else ""
        # A struct.
        if self.nullable and d != "null":
            return "{std::in_place}"
        return ""


def cpp_string(s):
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        else:
            raise SchemaError(f"unsupported character in default {s!r}")
    out.append('"')
    return "".join(out)


class Struct:
    def __init__(self, name):
        self.name = name
        self.specs = None  # JSON field list
        self.usage = set()  # message versions in which this struct is decoded
        self.fields = []


class Message:
    """One top-level message: a request, a response, a header or a data message."""

    def __init__(self, schema, max_version, file_name):
        self.schema = schema
        self.name = schema["name"]
        self.kind = schema["type"]
        self.file_name = file_name
        valid = parse_versions(schema["validVersions"], self.name)
        lo, hi = valid
        if max_version is None:
            max_version = hi
        if max_version > hi:
            raise SchemaError(f"{self.name}: schema allows up to v{hi}, asked for v{max_version}")
        self.min_version = lo
        self.max_version = max_version
        self.versions = set(range(lo, max_version + 1))
        flex = parse_versions(schema["flexibleVersions"], self.name)
        self.first_flexible = None if flex is None else flex[0]
        self.flexible = version_set(schema["flexibleVersions"], self.versions, self.name)
        self.api_key = schema.get("apiKey")
        self.structs = {}  # name -> Struct, for nested structs
        self.order = []  # nested structs, dependencies first
        self.common = {c["name"]: c for c in schema.get("commonStructs", [])}
        self.top = Struct(self.name)
        self.top.specs = schema["fields"]
        self.top.usage = set(self.versions)
        self._collect(self.top.specs, self.versions)
        self._build(self.top, self.top.specs)
        for s in self.order:
            self._build(s, s.specs)
        self._check_min_sizes()

    def _collect(self, specs, usage):
        """Registers every nested struct reachable in `usage` versions, with the union of the
        versions in which it is used."""
        for spec in specs:
            present = version_set(spec["versions"], usage, f"{self.name}.{spec['name']}")
            if not present:
                continue
            t = spec["type"]
            base = t[2:] if t.startswith("[]") else t
            if base in SCALARS or base in ("string", "bytes", "records"):
                continue
            if "fields" in spec:
                fields = spec["fields"]
            elif base in self.common:
                fields = self.common[base]["fields"]
            else:
                raise SchemaError(f"{self.name}: unknown type {t}")
            s = self.structs.get(base)
            if s is None:
                if base == self.name:
                    raise SchemaError(f"{self.name}: struct named like its message")
                s = self.structs[base] = Struct(base)
                s.specs = fields
            elif s.specs is not fields and "fields" in spec and base not in self.common:
                raise SchemaError(f"{self.name}: struct {base} defined twice")
            new = present - s.usage
            s.usage |= present
            if new:
                self._collect(fields, new)
            if s not in self.order:
                self.order.append(s)
        # self.order is discovery order; emit_order() puts every struct after those it uses.

    def emit_order(self):
        done, out = set(), []

        def visit(s):
            if s.name in done:
                return
            done.add(s.name)
            for f in s.fields:
                if f.struct is not None:
                    visit(f.struct)
            if s is not self.top:
                out.append(s)

        visit(self.top)
        return out

    def _build(self, struct, specs):
        names = set()
        for spec in specs:
            f = Field(struct.name, spec, struct.usage)
            if not f.present:
                continue
            if f.cpp_name in names:
                raise SchemaError(f"{f.what}: duplicate C++ name {f.cpp_name}")
            names.add(f.cpp_name)
            if f.is_struct:
                f.struct = self.structs[f.base]
            struct.fields.append(f)
        tags = [f.tag for f in struct.fields if f.tagged]
        if len(tags) != len(set(tags)):
            raise SchemaError(f"{self.name}.{struct.name}: duplicate tag")

    def _check_min_sizes(self):
        """Every array element must take at least one byte in every version it is read in, or
        the Reader's count-versus-bytes-left check would reject valid input."""
        for s in [self.top] + self.order:
            for f in s.fields:
                if not (f.is_array and f.struct is not None):
                    continue
                for v in f.present:
                    if v in self.flexible:
                        continue
                    if not any(v in g.regular for g in f.struct.fields):
                        raise SchemaError(f"{f.what}: element may be empty in v{v}")


# ---------------------------------------------------------------------------------------------
# Emitting C++


def condition(present, domain, var="v"):
    """A C++ condition on `var` that holds exactly for the versions of `present` within `domain`,
    or None when it holds for all of `domain`."""
    present = present & domain
    if present == domain:
        return None
    if not present:
        return "false"
    lo_d, hi_d = min(domain), max(domain)
    runs = []
    for v in sorted(present):
        if runs and runs[-1][1] == v - 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    parts = []
    for a, b in runs:
        need_lo, need_hi = a > lo_d, b < hi_d
        if need_lo and need_hi:
            parts.append(f"{var} == {a}" if a == b else f"({var} >= {a} && {var} <= {b})")
        elif need_lo:
            parts.append(f"{var} >= {a}")
        elif need_hi:
            parts.append(f"{var} <= {b}")
    if len(parts) == 1:
        return parts[0].removeprefix("(").removesuffix(")") if " && " in parts[0] else parts[0]
    return " || ".join(parts)


def bool_expr(present, domain):
    c = condition(present, domain)
    return "true" if c is None else c


def guard(cond, stmt, indent=2):
    """`stmt` under `cond` (None: always), as lines indented by `indent`, kept to 100 columns."""
    p = " " * indent
    if cond is None:
        return [p + stmt]
    line = f"{p}if ({cond}) {stmt}"
    if len(line) <= 100:
        return [line]
    return [f"{p}if ({cond}) {{", f"{p}  {stmt}", f"{p}}}"]


def signature(head, params, tail):
    """A function definition's first line, with parameters wrapped under the '(' if needed."""
    line = f"{head}({', '.join(params)}){tail}"
    if len(line) <= 100:
        return [line]
    pad = " " * (len(head) + 1)
    return [f"{head}({params[0]},"] + [f"{pad}{p}," for p in params[1:-1]] + \
        [f"{pad}{params[-1]}){tail}"]


class Emitter:
    def __init__(self, messages_by_file, schema_files_by_file):
        self.files = {}
        self.messages_by_file = messages_by_file
        self.schema_files_by_file = schema_files_by_file

    def banner(self, stem, what):
        source = ", ".join(self.schema_files_by_file[stem])
        text = (f"GENERATED by tools/kafka_codegen/generate.py from Apache Kafka's message "
                f"schemas ({source}; Apache License 2.0, see NOTICE). DO NOT EDIT: change the "
                f"generator or its API list and regenerate (src/kafka/protocol/README.md).")
        lines = textwrap.wrap(text, 96, break_on_hyphens=False)
        return "".join(f"// {line}\n" for line in lines) + f"//\n// {what}\n"

    # -- headers ----------------------------------------------------------------------------

    def struct_decl(self, m, s, indent, is_top):
        p = " " * indent
        lines = [f"{p}struct {s.name} {{"]
        if is_top:
            for nested in m.emit_order():
                lines += self.struct_decl(m, nested, indent + 2, False)
                lines.append("")
            if m.api_key is not None:
                lines.append(f"{p}  static constexpr std::int16_t kApiKey = {m.api_key};")
            lines.append(f'{p}  static constexpr std::string_view kName = "{m.name}";')
            lines.append(f"{p}  static constexpr std::int16_t kMinVersion = {m.min_version};")
            lines.append(f"{p}  static constexpr std::int16_t kMaxVersion = {m.max_version};")
            ff = "kNeverFlexible" if m.first_flexible is None else str(m.first_flexible)
            lines.append(f"{p}  static constexpr std::int16_t kFirstFlexibleVersion = {ff};")
            lines.append("")
        for f in s.fields:
            lines.append(f"{p}  {f.cpp_type()} {f.cpp_name}{f.initializer()};")
        lines.append("")
        if is_top:
            lines.append(f"{p}  // Fails (kUnsupported) outside [kMinVersion, kMaxVersion] and "
                         "(kInvalidArgument) on")
            lines.append(f"{p}  // malformed bytes. Fields absent in version `v` keep their "
                         "defaults.")
        lines.append(f"{p}  [[nodiscard]] Status decode(Reader& r, std::int16_t v);")
        if is_top:
            lines.append(f"{p}  // Fields absent in version `v` are not written (see "
                         "README.md). An unsupported version")
            lines.append(f"{p}  // puts `w` into its error state.")
        lines.append(f"{p}  void encode(Writer& w, std::int16_t v) const;")
        lines.append(f"{p}  bool operator==(const {s.name}&) const = default;")
        lines.append(f"{p}}};")
        return lines

    def header(self, stem, messages, what):
        lines = [self.banner(stem, what).rstrip("\n"), "#pragma once", ""]
        uses_records = any(f.base == "records" for m in messages
                           for s in [m.top] + m.order for f in s.fields)
        lines += [
            "#include <cstdint>",
            "#include <optional>",
            "#include <string>",
            "#include <string_view>",
            "#include <vector>",
            "",
        ] + (['#include "base/byte_buffer.h"'] if uses_records else []) + [
            '#include "base/bytes.h"',
            '#include "base/result.h"',
            '#include "kafka/protocol/types.h"',
            "",
            f"namespace {NAMESPACE} {{",
            "",
        ]
        for m in messages:
            lines += self.struct_decl(m, m.top, 0, True)
            lines.append("")
        lines.append(f"}}  // namespace {NAMESPACE}")
        return "\n".join(lines) + "\n"

    # -- sources ----------------------------------------------------------------------------

    def flex_var(self, m, s):
        return bool_expr(m.flexible & s.usage, s.usage)

    def field_flex(self, m, s, f):
        if f.flex_override is not None:
            return bool_expr(f.flex_override & s.usage, s.usage)
        return "f"

    def decode_fn(self, m, s, qual, is_top):
        body = []
        if is_top:
            body.append(f"  if (v < {m.min_version} || v > {m.max_version}) "
                        f'return fail(detail::unsupported_version("{m.name}", v));')
            body.append(f"  *this = {s.name}{{}};")
        flex = self.flex_var(m, s)
        uses_f = any(f.regular and self.field_flex(m, s, f) == "f" for f in s.fields)
        has_flex = flex != "false"
        if uses_f or has_flex:
            body.append(f"  const bool f = {flex};")
        for f in s.fields:
            if not f.regular:
                continue
            cond = condition(f.regular, s.usage)
            null = bool_expr(f.nullable & f.regular, f.regular)
            stmt = (f"WHARF_RETURN_IF_ERROR(detail::read_value(r, {f.cpp_name}, v, "
                    f"{self.field_flex(m, s, f)}, {null}));")
            body += guard(cond, stmt)
        if has_flex:
            tagged = sorted((f for f in s.fields if f.tagged), key=lambda f: f.tag)
            if not tagged:
                body.append("  if (f) WHARF_RETURN_IF_ERROR(detail::skip_tagged_fields(r));")
            else:
                body.append("  if (f) {")
                body.append("    auto on_tag = [&](std::uint32_t tag, Reader& t) -> Status {")
                body.append("      switch (tag) {")
                domain = m.flexible & s.usage
                for f in tagged:
                    cond = condition(f.tagged, domain)
                    null = bool_expr(f.nullable & f.tagged, f.tagged)
                    body.append(f"        case {f.tag}:")
                    stmt = (f"return detail::read_value(t, {f.cpp_name}, v, true, {null});")
                    body += guard(cond, stmt, 10)
                    if cond is not None:
                        body.append("          return ok();")
                body.append("        default:")
                body.append("          return ok();  // an unknown tag: skipped")
                body.append("      }")
                body.append("    };")
                body.append("    WHARF_RETURN_IF_ERROR(detail::read_tagged_fields(r, on_tag));")
                body.append("  }")
        body.append("  return ok();")
        text = "\n".join(body)
        params = ("Reader& r" if re.search(r"\br\b", text) else "Reader&",
                  "std::int16_t v" if re.search(r"\bv\b", text) else "std::int16_t")
        return signature(f"Status {qual}::decode", params, " {") + body + ["}"]

    def encode_fn(self, m, s, qual, is_top):
        body = []
        if is_top:
            body.append(f"  if (v < {m.min_version} || v > {m.max_version}) {{")
            body.append(f'    w.set_error(detail::unsupported_version("{m.name}", v));')
            body.append("    return;")
            body.append("  }")
        flex = self.flex_var(m, s)
        uses_f = any(f.regular and self.field_flex(m, s, f) == "f" for f in s.fields)
        has_flex = flex != "false"
        if uses_f or has_flex:
            body.append(f"  const bool f = {flex};")
        for f in s.fields:
            if not f.regular:
                continue
            cond = condition(f.regular, s.usage)
            null = bool_expr(f.nullable & f.regular, f.regular)
            stmt = (f"detail::write_value(w, {f.cpp_name}, v, {self.field_flex(m, s, f)}, "
                    f"{null});")
            body += guard(cond, stmt)
        if has_flex:
            tagged = sorted((f for f in s.fields if f.tagged), key=lambda f: f.tag)
            if not tagged:
                body.append("  if (f) w.write_uvarint(0);  // no tagged fields")
            else:
                domain = m.flexible & s.usage
                body.append("  if (f) {")
                body.append(f"    static const {s.name} kDefaults{{}};")
                body.append("    detail::TaggedFieldsWriter tagged;")
                for f in tagged:
                    cond = condition(f.tagged, domain)
                    null = bool_expr(f.nullable & f.tagged, f.tagged)
                    test = f"!({f.cpp_name} == kDefaults.{f.cpp_name})"
                    if cond is not None:
                        test = f"({cond}) && {test}"
                    body.append(f"    if ({test}) {{")
                    body.append(f"      detail::write_value(tagged.add({f.tag}), {f.cpp_name}, "
                                f"v, true, {null});")
                    body.append("    }")
                body.append("    tagged.finish(w);")
                body.append("  }")
        text = "\n".join(body)
        params = ("Writer& w" if re.search(r"\bw\b", text) else "Writer&",
                  "std::int16_t v" if re.search(r"\bv\b", text) else "std::int16_t")
        return signature(f"void {qual}::encode", params, " const {") + body + ["}"]

    def source(self, stem, messages):
        lines = [self.banner(stem, "Decoders and encoders.").rstrip("\n")]
        lines += [
            f'#include "{INCLUDE_DIR}/{stem}.h"',
            "",
            '#include "kafka/protocol/codec.h"',
            "",
            f"namespace {NAMESPACE} {{",
            "",
        ]
        for m in messages:
            for s in m.emit_order() + [m.top]:
                is_top = s is m.top
                qual = m.name if is_top else f"{m.name}::{s.name}"
                lines += self.decode_fn(m, s, qual, is_top)
                lines.append("")
                lines += self.encode_fn(m, s, qual, is_top)
                lines.append("")
        lines.append(f"}}  // namespace {NAMESPACE}")
        return "\n".join(lines) + "\n"

    # -- api table --------------------------------------------------------------------------

    def api_table(self, apis):
        h = [self.banner("api_table", "The table of generated APIs and the header version "
                         "rules. Constant data; thread-safe.").rstrip("\n"),
             "#pragma once", "",
             "#include <cstdint>", "#include <optional>", "#include <span>",
             "#include <string_view>", "",
             '#include "kafka/protocol/types.h"', "",
             f"namespace {NAMESPACE} {{", "",
             "struct ApiInfo {",
             "  std::int16_t api_key;",
             "  std::string_view name;",
             "  std::int16_t min_version;  // lowest version the codec parses",
             "  std::int16_t max_version;  // highest version the codec parses",
             "  // First flexible version in Kafka's schema (may be above max_version), or",
             "  // kNeverFlexible.",
             "  std::int16_t first_flexible_version;",
             "};",
             "",
             "// Every generated API, by ascending api_key.",
             "std::span<const ApiInfo> generated_apis();",
             "// The entry for `api_key`, or nullptr if the codec does not know it.",
             "const ApiInfo* find_api(std::int16_t api_key);",
             "",
             "// Request header version for (api_key, api_version): 2 for flexible versions,",
             "// else 1. Also defined above max_version, so that a too-new ApiVersions request",
             "// can still be read. nullopt for an unknown api_key or a negative version.",
             "std::optional<std::int16_t> request_header_version(std::int16_t api_key,",
             "                                                   std::int16_t api_version);",
             "// Response header version: 1 for flexible versions, else 0; always 0 for",
             "// ApiVersions. nullopt for an unknown api_key or a negative version.",
             "std::optional<std::int16_t> response_header_version(std::int16_t api_key,",
             "                                                    std::int16_t api_version);",
             "",
             f"}}  // namespace {NAMESPACE}"]
        c = [self.banner("api_table", "The table of generated APIs.").rstrip("\n"),
             f'#include "{INCLUDE_DIR}/api_table.h"', "",
             "#include <algorithm>", "#include <array>", "",
             f"namespace {NAMESPACE} {{", "", "namespace {", "",
             f"constexpr std::array<ApiInfo, {len(apis)}> kApis = {{{{"]
        for name, key, lo, hi, ff in apis:
            ffs = "kNeverFlexible" if ff is None else str(ff)
            c.append(f'    {{{key}, "{name}", {lo}, {hi}, {ffs}}},')
        always_v0 = sorted(k for name, k, *_ in apis if name in RESPONSE_HEADER_V0_ALWAYS)
        c += ["}};", "",
              "bool is_flexible(const ApiInfo& api, std::int16_t api_version) {",
              "  return api.first_flexible_version != kNeverFlexible &&",
              "         api_version >= api.first_flexible_version;",
              "}", "", "}  // namespace", "",
              "std::span<const ApiInfo> generated_apis() { return kApis; }", "",
              "const ApiInfo* find_api(std::int16_t api_key) {",
              "  auto by_key = [](const ApiInfo& api, std::int16_t key) "
              "{ return api.api_key < key; };",
              "  auto it = std::lower_bound(kApis.begin(), kApis.end(), api_key, by_key);",
              "  if (it == kApis.end() || it->api_key != api_key) return nullptr;",
              "  return &*it;",
              "}", "",
              "std::optional<std::int16_t> request_header_version(std::int16_t api_key,",
              "                                                   std::int16_t api_version) {",
              "  const ApiInfo* api = find_api(api_key);",
              "  if (api == nullptr || api_version < 0) return std::nullopt;",
              "  return is_flexible(*api, api_version) ? 2 : 1;",
              "}", "",
              "std::optional<std::int16_t> response_header_version(std::int16_t api_key,",
              "                                                    std::int16_t api_version) {",
              "  const ApiInfo* api = find_api(api_key);",
              "  if (api == nullptr || api_version < 0) return std::nullopt;"]
        for k in always_v0:
            c.append(f"  if (api_key == {k}) return 0;  // always header v0, see KIP-511")
        c += ["  return is_flexible(*api, api_version) ? 1 : 0;", "}", "",
              f"}}  // namespace {NAMESPACE}"]
        return "\n".join(h) + "\n", "\n".join(c) + "\n"

    def messages_header(self, api_stems, other_stems, api_pairs):
        lines = [self.banner("messages", "Every generated message, and for_each_api() to visit "
                             "each API's request and response\n// types (tests, fuzzing, "
                             "dispatch tables). Types only; no threads, no durability.").rstrip(),
                 "#pragma once", ""]
        for stem in ["api_table"] + other_stems + api_stems:
            lines.append(f'#include "{INCLUDE_DIR}/{stem}.h"')
        lines += ["", f"namespace {NAMESPACE} {{", "",
                  "template <typename RequestT, typename ResponseT>",
                  "struct ApiMessages {",
                  "  using Request = RequestT;",
                  "  using Response = ResponseT;",
                  "};", "",
                  "// Calls f(ApiMessages<XRequest, XResponse>{}) for every generated API, by "
                  "api_key.",
                  "template <typename F>",
                  "void for_each_api(F&& f) {"]
        for req, resp in api_pairs:
            lines.append(f"  f(ApiMessages<{req}, {resp}>{{}});")
        lines += ["}", "", f"}}  // namespace {NAMESPACE}"]
        return "\n".join(lines) + "\n"

    # -- test samples -----------------------------------------------------------------------

    def samples(self, all_messages):
        h = [self.banner("test_samples", "Test support: fill_sample() sets every field that "
                         "exists in a version to a pseudo-random\n// value (and no other), for "
                         "round-trip tests and fuzz seeds. Not linked into the broker.").rstrip(),
             "#pragma once", "",
             "#include <cstdint>", "",
             '#include "kafka/protocol/generated/messages.h"',
             '#include "kafka/protocol/sample_source.h"', "",
             f"namespace {NAMESPACE}::testing {{", ""]
        c = [self.banner("test_samples", "Test support.").rstrip(),
             f'#include "{INCLUDE_DIR}/test_samples.h"', "",
             f"namespace {NAMESPACE}::testing {{", ""]
        for m in all_messages:
            for s in m.emit_order() + [m.top]:
                qual = m.name if s is m.top else f"{m.name}::{s.name}"
                h += signature("void fill_sample",
                               [f"{qual}& m", "std::int16_t v", "SampleSource& s"], ";")
                body = []
                for f in s.fields:
                    cond = condition(f.present, s.usage)
                    null = bool_expr(f.nullable, f.present)
                    body += guard(cond, f"sample_value(m.{f.cpp_name}, v, s, {null});")
                text = "\n".join(body)
                params = (f"{qual}& m" if re.search(r"\bm\b", text) else f"{qual}&",
                          "std::int16_t v" if re.search(r"\bv\b", text) else "std::int16_t",
                          "SampleSource& s" if re.search(r"\bs\b", text) else "SampleSource&")
                c += signature("void fill_sample", params, " {")
                c += body
                c += ["}", ""]
        h += ["", f"}}  // namespace {NAMESPACE}::testing"]
        c += [f"}}  // namespace {NAMESPACE}::testing"]
        return "\n".join(h) + "\n", "\n".join(c) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schemas", required=True, help="directory of Kafka's *.json schemas")
    parser.add_argument("--out", required=True, help="output directory (generated/)")
    args = parser.parse_args()

    try:
        messages_by_file = {}
        schema_files = {}
        api_rows = []
        api_pairs = []
        api_stems = []
        for api, max_version in APIS:
            stem = snake_case(api)
            req = Message(load_schema(args.schemas, api + "Request"), max_version, stem)
            resp = Message(load_schema(args.schemas, api + "Response"), max_version, stem)
            if req.kind != "request" or resp.kind != "response" or req.api_key != resp.api_key:
                raise SchemaError(f"{api}: request/response schemas do not match")
            if (req.min_version, req.max_version) != (resp.min_version, resp.max_version):
                raise SchemaError(f"{api}: request and response version ranges differ")
            if req.first_flexible != resp.first_flexible:
                raise SchemaError(f"{api}: request and response flexible versions differ")
            messages_by_file[stem] = [req, resp]
            schema_files[stem] = [f"{api}Request.json", f"{api}Response.json"]
            api_rows.append((api, req.api_key, req.min_version, req.max_version,
                             req.first_flexible))
            api_pairs.append((req.api_key, req.name, resp.name))
            api_stems.append(stem)
        other_stems = []
        for stem, names in OTHER_FILES:
            messages_by_file[stem] = [Message(load_schema(args.schemas, n), None, stem)
                                      for n in names]
            schema_files[stem] = [n + ".json" for n in names]
            other_stems.append(stem)
        api_rows.sort(key=lambda r: r[1])
        api_pairs.sort()
        all_files = [f for files in schema_files.values() for f in files]
        schema_files["api_table"] = [f for stem in api_stems for f in schema_files[stem]]
        schema_files["messages"] = all_files
        schema_files["test_samples"] = all_files

        emitter = Emitter(messages_by_file, schema_files)
        outputs = {}
        what = {
            "message_headers": "Kafka's request header (v0-v2) and response header (v0-v1). Plain "
                               "values; no threads,\n// no durability.",
            "consumer_protocol": "The consumer protocol's subscription and assignment (the opaque "
                                 "bytes of JoinGroup and\n// SyncGroup). Plain values; no threads, "
                                 "no durability.",
        }
        for stem, messages in messages_by_file.items():
            desc = what.get(stem) or (
                f"{messages[0].name} and {messages[1].name}, "
                f"v{messages[0].min_version}-v{messages[0].max_version}. Plain values; no "
                "threads, no\n// durability.")
            outputs[stem + ".h"] = emitter.header(stem, messages, desc)
            outputs[stem + ".cc"] = emitter.source(stem, messages)
        outputs["api_table.h"], outputs["api_table.cc"] = emitter.api_table(api_rows)
        outputs["messages.h"] = emitter.messages_header(
            sorted(api_stems), other_stems, [(a, b) for _, a, b in api_pairs])
        all_messages = [m for stem in other_stems + api_stems for m in messages_by_file[stem]]
        outputs["test_samples.h"], outputs["test_samples.cc"] = emitter.samples(all_messages)
    except (SchemaError, OSError, ValueError, KeyError) as e:
        print(f"generate.py: {e}", file=sys.stderr)
        return 1

    os.makedirs(args.out, exist_ok=True)
    for name, text in sorted(outputs.items()):
        path = os.path.join(args.out, name)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
