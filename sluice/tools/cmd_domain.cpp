// sluice ls | inspect NAME | rm NAME | gc: domains, peers and registry.
#include <sluice/alloc/heap.hpp>
#include <sluice/base/json.hpp>
#include <sluice/base/units.hpp>
#include <sluice/channel/channel.hpp>
#include <sluice/layout/scan.hpp>
#include <sluice/layout/segment.hpp>
#include <sluice/tools/cli.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <memory>
#include <ostream>

namespace sluice::tools {
namespace {

void json_summary(JsonWriter& j, const layout::DomainSummary& s) {
  j.begin_object()
      .field("name", s.name)
      .field("size", s.size)
      .field("state", s.state)
      .field("temporary", s.temporary)
      .field("generation", s.generation)
      .field("created_unix_ns", s.created_unix_ns)
      .field("peers_alive", s.peers_alive)
      .field("peers_dead", s.peers_dead)
      .field("entries", s.entries)
      .field("owner_uid", static_cast<std::uint64_t>(s.owner))
      .field("mode", fmt::format("{:04o}", s.mode))
      .field("readable", s.readable);
  if (!s.error.empty()) j.field("error", s.error);
  j.end_object();
}

int cmd_ls(CliIo& io, bool json) {
  auto domains = layout::list_domains();
  if (!domains) {
    io.err << "sluice ls: " << domains.error().what() << "\n";
    return 1;
  }
  if (json) {
    JsonWriter j;
    j.begin_object().key("domains").begin_array();
    for (const auto& d : *domains) json_summary(j, d);
    j.end_array().end_object();
    io.out << j.str() << "\n";
    return 0;
  }
  if (domains->empty()) {
    io.out << "no sluice domains in /dev/shm\n";
    return 0;
  }
  Table t({"NAME", "SIZE", "STATE", "OWNER", "MODE", "PEERS", "DEAD", "ENTRIES", "CREATED"});
  for (const auto& d : *domains) {
    const bool known = d.readable;
    t.add({d.name, format_bytes(d.size), d.error.empty() ? d.state : d.state + " (!)",
           std::to_string(d.owner), fmt::format("{:04o}", d.mode),
           known ? std::to_string(d.peers_alive) : "?", known ? std::to_string(d.peers_dead) : "?",
           known ? std::to_string(d.entries) : "?",
           d.created_unix_ns ? format_time(d.created_unix_ns) : "-"});
  }
  t.print(io.out);
  for (const auto& d : *domains)
    if (!d.error.empty()) io.out << "(!) " << d.name << ": " << d.error << "\n";
  return 0;
}

const char* kind_name(std::uint32_t kind) {
  switch (kind) {
    case 1:
      return "pubsub";
    case 2:
      return "queue";
    case 3:
      return "bytes";
    default:
      return "other";
  }
}

const char* policy_name(channel::FullPolicy p) {
  switch (p) {
    case channel::FullPolicy::block:
      return "block";
    case channel::FullPolicy::overwrite:
      return "overwrite";
    case channel::FullPolicy::fail:
      return "fail";
  }
  return "?";
}

// The heap of a domain mapped read-only (no peer slot taken).
Result<alloc::Heap> heap_of(const layout::Segment& d) {
  const auto& h = d.header();
  return alloc::Heap::attach(alloc::HeapRegion{d.base(), d.size(), h.heap.offset, h.heap.size,
                                               h.data.offset, h.data.size});
}

void json_channels(JsonWriter& j, const std::vector<ChannelInfo>& channels) {
  j.key("channels").begin_array();
  for (const auto& c : channels) {
    j.begin_object()
        .field("name", c.name)
        .field("kind", c.kind == channel::Kind::pubsub ? "pubsub" : "queue")
        .field("policy", policy_name(c.policy))
        .field("capacity", c.capacity)
        .field("history", c.history)
        .field("element_size", c.element_size)
        .field("published", c.published)
        .field("last_publisher_pid", c.last_publisher_pid)
        .field("last_subscriber_pid", c.last_subscriber_pid);
    j.key("endpoints").begin_array();
    for (const auto& e : c.endpoints)
      j.begin_object()
          .field("role", e.publisher ? "publisher" : "subscriber")
          .field("slot", e.slot)
          .field("pid", e.pid)
          .field("peer", e.peer)
          .field("messages", e.messages)
          .field("dropped", e.dropped)
          .field("held", e.held)
          .field("queued", e.queued)
          .end_object();
    j.end_array().end_object();
  }
  j.end_array();
}

void print_channels(std::ostream& out, const std::vector<ChannelInfo>& channels) {
  Table ct({"CHANNEL", "KIND", "POLICY", "CAPACITY", "HISTORY", "PUBLISHED", "ENDPOINTS"});
  for (const auto& c : channels)
    ct.add({c.name, c.kind == channel::Kind::pubsub ? "pubsub" : "queue", policy_name(c.policy),
            std::to_string(c.capacity), std::to_string(c.history), std::to_string(c.published),
            std::to_string(c.endpoints.size())});
  if (ct.empty()) {
    out << "no channels\n";
    return;
  }
  ct.print(out);
  out << "\n";
  Table et({"CHANNEL", "ROLE", "SLOT", "PID", "MESSAGES", "DROPPED", "HELD", "QUEUED"});
  for (const auto& c : channels)
    for (const auto& e : c.endpoints)
      et.add({c.name, e.publisher ? "publisher" : "subscriber", std::to_string(e.slot),
              std::to_string(e.pid), std::to_string(e.messages), std::to_string(e.dropped),
              std::to_string(e.held), std::to_string(e.queued)});
  if (!et.empty()) et.print(out);
}

int cmd_inspect(CliIo& io, const std::string& name, bool json) {
  layout::SegmentOpenOptions oo;
  oo.read_only = true;
  oo.attach_as_peer = false;
  oo.timeout = std::chrono::milliseconds(1000);
  auto d = layout::Segment::open(name, oo);
  if (!d) {
    io.err << "sluice inspect: " << d.error().what() << "\n";
    return 1;
  }
  const auto& h = d->header();
  const auto peers = d->peers();
  auto entries = d->registry_list();
  if (json) {
    JsonWriter j;
    j.begin_object().field("name", d->name());
    j.key("header")
        .begin_object()
        .field("layout_version", h.layout_version)
        .field("size", h.segment_size)
        .field("state", layout::to_string(static_cast<layout::InitState>(h.init_state.load())))
        .field("generation", h.generation)
        .field("created_unix_ns", h.created_unix_ns)
        .field("max_peers", h.max_peers)
        .field("max_entries", h.max_entries);
    j.key("sections").begin_object();
    const std::pair<const char*, layout::Section> secs[] = {
        {"peers", h.peers}, {"registry", h.registry}, {"heap", h.heap}, {"data", h.data}};
    for (const auto& [n, s] : secs)
      j.key(n).begin_object().field("offset", s.offset).field("size", s.size).end_object();
    j.end_object().end_object();
    j.key("peers").begin_array();
    for (const auto& p : peers)
      j.begin_object()
          .field("index", p.index)
          .field("pid", p.identity.pid)
          .field("start_time", p.identity.start_time)
          .field("state", layout::to_string(p.state))
          .field("alive", p.alive)
          .field("epoch", p.epoch)
          .field("attached_unix_ns", p.attach_unix_ns)
          .end_object();
    j.end_array();
    j.key("registry").begin_array();
    if (entries) {
      for (const auto& e : *entries) {
        j.begin_object()
            .field("index", e.index)
            .field("name", e.name)
            .field("kind", kind_name(e.config.kind))
            .field("type_id", e.config.type_id)
            .field("element_size", e.config.element_size)
            .field("refs", e.refs)
            .field("generation", e.generation)
            .field("control_offset", e.control_offset)
            .field("control_size", e.control_size)
            .field("creator_pid", e.creator_pid)
            .end_object();
      }
    }
    j.end_array();
    if (!entries) j.field("registry_error", entries.error().what());
    int rc = entries ? 0 : 1;
    if (h.heap.size > 0) {
      if (auto heap = heap_of(*d)) {
        j.key("heap");
        std::string raw = alloc::format_stats_json(heap->stats());
        j.raw(raw);
      } else {
        j.field("heap_error", heap.error().what());
        rc = 1;
      }
    }
    if (auto channels = list_channels(*d)) {
      json_channels(j, *channels);
    } else {
      j.field("channels_error", channels.error().what());
      rc = 1;
    }
    j.end_object();
    io.out << j.str() << "\n";
    return rc;
  }
  io.out << fmt::format("domain {}\n", d->name());
  io.out << fmt::format("  size {}  layout v{}  state {}  generation {:#018x}\n",
                        format_bytes(h.segment_size), h.layout_version,
                        layout::to_string(static_cast<layout::InitState>(h.init_state.load())),
                        h.generation);
  io.out << fmt::format("  created {}  peers max {}  registry max {}\n",
                        format_time(h.created_unix_ns), h.max_peers, h.max_entries);
  io.out << fmt::format(
      "  sections: peers {} @ {}, registry {} @ {}, heap {} @ {}, data {} @ {}\n\n",
      format_bytes(h.peers.size), h.peers.offset, format_bytes(h.registry.size), h.registry.offset,
      format_bytes(h.heap.size), h.heap.offset, format_bytes(h.data.size), h.data.offset);
  Table pt({"PEER", "PID", "STATE", "ALIVE", "EPOCH", "ATTACHED"});
  for (const auto& p : peers)
    pt.add({std::to_string(p.index), std::to_string(p.identity.pid), layout::to_string(p.state),
            p.alive ? "yes" : "DEAD", std::to_string(p.epoch), format_time(p.attach_unix_ns)});
  if (pt.empty())
    io.out << "no attached peers\n";
  else
    pt.print(io.out);
  io.out << "\n";
  if (!entries) {
    io.err << "sluice inspect: registry: " << entries.error().what() << "\n";
    return 1;
  }
  Table et({"ENTRY", "NAME", "KIND", "ELEMENT", "REFS", "CONTROL", "CREATOR"});
  for (const auto& e : *entries)
    et.add({std::to_string(e.index), e.name, kind_name(e.config.kind),
            e.config.element_size ? format_bytes(e.config.element_size) : "bytes",
            std::to_string(e.refs),
            fmt::format("{} @ {}", format_bytes(e.control_size), e.control_offset),
            std::to_string(e.creator_pid)});
  if (et.empty())
    io.out << "registry is empty\n";
  else
    et.print(io.out);
  int rc = 0;
  if (h.heap.size > 0) {
    io.out << "\n";
    if (auto heap = heap_of(*d)) {
      io.out << alloc::format_stats_table(heap->stats());
    } else {
      io.err << "sluice inspect: heap: " << heap.error().what() << "\n";
      rc = 1;
    }
  }
  io.out << "\n";
  if (auto channels = list_channels(*d)) {
    print_channels(io.out, *channels);
  } else {
    io.err << "sluice inspect: channels: " << channels.error().what() << "\n";
    rc = 1;
  }
  return rc;
}

int cmd_rm(CliIo& io, const std::vector<std::string>& names, bool force, bool json) {
  // Under --json every outcome, errors included, is in the one JSON object
  // on stdout; otherwise errors go to stderr.
  std::vector<std::string> removed;
  std::vector<std::pair<std::string, std::string>> errors;
  auto refuse = [&](const std::string& name, std::string why) {
    errors.emplace_back(name, std::move(why));
  };
  for (const auto& name : names) {
    // Only what carries the domain magic, unless forced: a name in /dev/shm
    // may belong to anything.
    const layout::ShmKind kind = layout::probe_object(name);
    if (!force && kind == layout::ShmKind::other) {
      refuse(name, fmt::format("'{}' is not a sluice domain (no domain magic); use --force to "
                               "remove it anyway",
                               name));
      continue;
    }
    if (!force && kind == layout::ShmKind::unreadable) {
      refuse(name, fmt::format("cannot read '{}' to check that it is a sluice domain (permission "
                               "denied); use --force to remove it anyway",
                               name));
      continue;
    }
    auto s = layout::summarize_domain(name);
    if (s && s->peers_alive > 0 && !force) {
      refuse(name, fmt::format("domain '{}' has {} live process(es) attached; use --force to "
                               "remove it anyway",
                               name, s->peers_alive));
      continue;
    }
    auto r = layout::Segment::remove(name);
    if (!r) {
      refuse(name, r.error().what());
      continue;
    }
    removed.push_back(name);
  }
  if (json) {
    JsonWriter j;
    j.begin_object().key("removed").begin_array();
    for (const auto& n : removed) j.value(n);
    j.end_array();
    if (!errors.empty()) {
      j.key("errors").begin_array();
      for (const auto& [n, e] : errors)
        j.begin_object().field("name", n).field("error", e).end_object();
      j.end_array();
    }
    j.end_object();
    io.out << j.str() << "\n";
  } else {
    for (const auto& n : removed) io.out << "removed " << n << "\n";
    for (const auto& [n, e] : errors) io.err << "sluice rm: " << e << "\n";
  }
  return errors.empty() ? 0 : 1;
}

int cmd_gc(CliIo& io, bool idle, bool dry_run, bool json) {
  auto actions = layout::collect_garbage({idle, dry_run});
  if (!actions) {
    io.err << "sluice gc: " << actions.error().what() << "\n";
    return 1;
  }
  int rc = 0;
  for (const auto& a : *actions)
    if (!a.error.empty()) rc = 1;
  if (json) {
    JsonWriter j;
    j.begin_object().field("dry_run", dry_run).key("actions").begin_array();
    for (const auto& a : *actions) {
      j.begin_object().field("name", a.name).field("reason", a.reason).field("removed", a.removed);
      if (!a.error.empty()) j.field("error", a.error);
      j.end_object();
    }
    j.end_array().end_object();
    io.out << j.str() << "\n";
    return rc;
  }
  if (actions->empty()) io.out << "nothing to collect\n";
  for (const auto& a : *actions) {
    if (!a.error.empty())
      io.err << fmt::format("sluice gc: {}: {}\n", a.name, a.error);
    else
      io.out << fmt::format("{} {}: {}\n", dry_run ? "would remove" : "removed", a.name, a.reason);
  }
  return rc;
}

}  // namespace

void register_domain_commands(CLI::App& app, CliIo& io, int& exit_code) {
  struct Opts {
    bool json = false;
    bool force = false;
    bool idle = false;
    bool dry_run = false;
    std::string name;
    std::vector<std::string> names;
  };
  auto o = std::make_shared<Opts>();

  auto* ls = app.add_subcommand("ls", "list sluice domains on this machine");
  ls->add_flag("--json", o->json, "print JSON");
  ls->callback([o, &io, &exit_code] { exit_code = cmd_ls(io, o->json); });

  auto* inspect = app.add_subcommand("inspect", "show a domain's header, peers and registry");
  inspect->add_option("NAME", o->name, "domain name")->required();
  inspect->add_flag("--json", o->json, "print JSON");
  inspect->callback([o, &io, &exit_code] { exit_code = cmd_inspect(io, o->name, o->json); });

  auto* rm = app.add_subcommand("rm", "remove domains (refuses while live processes are attached)");
  rm->add_option("NAME", o->names, "domain names")->required();
  rm->add_flag("--force", o->force,
               "remove even with live processes attached (they keep their mapping), or an "
               "object that is not a sluice domain");
  rm->add_flag("--json", o->json, "print JSON");
  rm->callback([o, &io, &exit_code] { exit_code = cmd_rm(io, o->names, o->force, o->json); });

  auto* gc = app.add_subcommand(
      "gc", "remove domains whose attached processes all died, and abandoned creations");
  gc->add_flag("--idle", o->idle, "also remove domains with no attached process");
  gc->add_flag("--dry-run", o->dry_run, "only say what would be removed");
  gc->add_flag("--json", o->json, "print JSON");
  gc->callback([o, &io, &exit_code] { exit_code = cmd_gc(io, o->idle, o->dry_run, o->json); });
}

}  // namespace sluice::tools
