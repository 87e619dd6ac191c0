// The PostgreSQL tests run under pg_virtualenv, which exports PGHOST, PGPORT,
// PGUSER, PGDATABASE and PGPASSWORD for a throw-away cluster; this builds the
// libpq "key=value" connection string (DATABASE_URL) from them.
#pragma once

#include <cstdlib>
#include <string>
#include <tuple>

namespace topgun::testing {

// The connection string, or "" when a required variable is missing (the test
// is then not running under pg_virtualenv and should fail saying so).
inline std::string postgres_url_from_env() {
    std::string url;
    for (const auto& [var, key, required] :
         {std::tuple{"PGHOST", "host", true}, std::tuple{"PGPORT", "port", true}, std::tuple{"PGUSER", "user", true},
          std::tuple{"PGDATABASE", "dbname", true}, std::tuple{"PGPASSWORD", "password", false}}) {
        const char* value = std::getenv(var);
        if (value == nullptr || *value == '\0') {
            if (required) return {};
            continue;
        }
        std::string quoted;
        for (const char* c = value; *c != '\0'; ++c) {
            if (*c == '\'' || *c == '\\') quoted += '\\';
            quoted += *c;
        }
        url += std::string(key) + "='" + quoted + "' ";
    }
    return url;
}

}  // namespace topgun::testing
