// What an HTTP endpoint answers, independent of the socket layer (net/ writes it).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace topgun::server {

struct HttpAnswer {
    unsigned status = 200;
    std::string content_type;
    std::string body;
};

inline HttpAnswer json_answer(unsigned status, const nlohmann::json& body) {
    return HttpAnswer{status, "application/json", body.dump()};
}

// `{"code": status, "message": ...}`, the reference's error body.
inline HttpAnswer json_error(unsigned status, const std::string& message) {
    return json_answer(status, nlohmann::json{{"code", status}, {"message", message}});
}

}  // namespace topgun::server
