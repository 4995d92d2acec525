// A consumer plugin written as docs/plugin-authors.md teaches, for the tests of
// the in-memory providers: it serves POST /api/v2/notes/{topic} (hive.routes/1)
// by publishing the body on the bus as "notes.<topic>", and counts the `tasks.*`
// events it hears through a hive::ServiceFollower (GET /api/v2/notes/heard).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "hive/follower.hpp"
#include "hive/plugin.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/http.hpp"

namespace hive::notes_test {

class NotesRoutes final : public http::RouteProvider {
 public:
  NotesRoutes(PluginContext& context, std::shared_ptr<std::atomic<int>> heard)
      : context_(context), heard_(std::move(heard)) {
    table_.add({.id = "notes.post", .method = "POST", .path = "/api/v2/notes/{topic}", .maxBodyBytes = 64},
               [this](http::Request request, http::Responder respond) {
                 auto bus = context_.services().get<bus::Bus>();
                 if (!bus.ok()) return respond(http::problem(bus.status()));
                 auto id = (*bus)->publish("notes." + request.param("topic"), request.body);
                 if (!id.ok()) return respond(http::problem(id.status()));
                 respond({.status = 201, .body = "{\"id\":" + http::jsonQuote(*id) + "}"});
               });
    table_.add({.id = "notes.heard", .method = "GET", .path = "/api/v2/notes/heard"},
               [this](http::Request, http::Responder respond) {
                 respond({.body = "{\"heard\":" + std::to_string(heard_->load()) + "}"});
               });
  }
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }

 private:
  PluginContext& context_;
  std::shared_ptr<std::atomic<int>> heard_;
  http::RouteTable table_;
};

class NotesPlugin final : public Plugin {
 public:
  explicit NotesPlugin(PluginContext& context) : context_(context) {}

  // hive::Plugin
  void configure(const ConfigNode&, Diagnostics&) override {}
  Status start() override {
    HIVE_TRY(tasks_.start());
    return context_.services().provide<http::RouteProvider>(std::make_shared<NotesRoutes>(context_, heard_));
  }
  void stop() override { tasks_.stop(); }

 private:
  PluginContext& context_;
  std::shared_ptr<std::atomic<int>> heard_ = std::make_shared<std::atomic<int>>(0);
  ServiceFollower<bus::Bus> tasks_{context_.services(), [heard = heard_](bus::Bus& bus) {
                                     return bus.subscribe("tasks.*",
                                                          [heard](const bus::Event&) { ++*heard; });
                                   }};
};

}  // namespace hive::notes_test
