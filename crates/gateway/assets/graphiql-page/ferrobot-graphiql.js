// Ferrobot's GraphiQL page: logs a person in (a password for a JWT from /api/auth/token/, or an
// API token), keeps the credential in sessionStorage (this tab, until it is closed or the person
// logs out), and sends it with every request GraphiQL makes: introspection for the docs explorer
// and autocompletion, and the queries themselves.
(function () {
  "use strict";

  var ENDPOINT = "/api/graphql/";
  var KEY = "ferrobot.graphiql.credential";

  function $(id) {
    return document.getElementById(id);
  }

  // The stored credential: {header: "Bearer …" | "Token …", who: text to show}, or null.
  function credential() {
    try {
      var stored = JSON.parse(window.sessionStorage.getItem(KEY) || "null");
      return stored && typeof stored.header === "string" ? stored : null;
    } catch (e) {
      return null;
    }
  }

  function remember(value) {
    if (value) {
      window.sessionStorage.setItem(KEY, JSON.stringify(value));
    } else {
      window.sessionStorage.removeItem(KEY);
    }
    showCredential();
    render();
  }

  function say(text, isError) {
    var status = $("ferrobot-status");
    status.textContent = text;
    status.className = isError ? "ferrobot-error" : "";
  }

  function showCredential() {
    var current = credential();
    $("ferrobot-login").hidden = !!current;
    $("ferrobot-token").hidden = !!current;
    $("ferrobot-logout").hidden = !current;
    say(current ? "Logged in " + current.who + "." : "Not logged in: log in to run queries and browse the docs.", false);
  }

  // The `detail` of an error answer, or its status line.
  function reason(response) {
    return response
      .json()
      .then(function (body) {
        return (body && (body.detail || (body.errors && body.errors[0] && body.errors[0].message))) || response.statusText;
      })
      .catch(function () {
        return "HTTP " + response.status;
      });
  }

  function logIn(event) {
    event.preventDefault();
    var username = $("ferrobot-username").value.trim();
    var password = $("ferrobot-password").value;
    say("Logging in…", false);
    fetch("/api/auth/token/", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ username: username, password: password }),
      credentials: "omit",
    })
      .then(function (response) {
        if (!response.ok) {
          return reason(response).then(function (text) {
            throw new Error(text);
          });
        }
        return response.json();
      })
      .then(function (body) {
        if (!body || typeof body.token !== "string") {
          throw new Error("The server answered without a token.");
        }
        $("ferrobot-password").value = "";
        remember({ header: "Bearer " + body.token, who: "as " + username });
      })
      .catch(function (error) {
        say("Login failed: " + error.message, true);
      });
  }

  // An API token is checked against /api/status/, which wants a valid credential.
  function useToken(event) {
    event.preventDefault();
    var key = $("ferrobot-token-key").value.trim();
    var header = "Token " + key;
    say("Checking the token…", false);
    fetch("/api/status/", { headers: { Authorization: header, Accept: "application/json" }, credentials: "omit" })
      .then(function (response) {
        if (!response.ok) {
          return reason(response).then(function (text) {
            throw new Error(text);
          });
        }
        $("ferrobot-token-key").value = "";
        remember({ header: header, who: "with an API token (…" + key.slice(-4) + ")" });
      })
      .catch(function (error) {
        say("Token refused: " + error.message, true);
      });
  }

  function logOut() {
    remember(null);
  }

  // GraphiQL's fetcher: the stored credential on every request, unless the headers editor sets
  // an Authorization header of its own.
  function makeFetcher() {
    return function (params, options) {
      var headers = { "Content-Type": "application/json", Accept: "application/json" };
      var current = credential();
      if (current) {
        headers.Authorization = current.header;
      }
      var extra = (options && options.headers) || {};
      Object.keys(extra).forEach(function (name) {
        Object.keys(headers).forEach(function (have) {
          if (have.toLowerCase() === name.toLowerCase()) {
            delete headers[have];
          }
        });
        headers[name] = extra[name];
      });
      var named = Object.keys(headers).some(function (name) {
        return name.toLowerCase() === "authorization";
      });
      if (!named) {
        // Every request wants a credential: say so rather than ask the server.
        return Promise.resolve({ errors: [{ message: "Log in above to load the schema and run queries." }] });
      }
      return fetch(ENDPOINT, {
        method: "POST",
        headers: headers,
        body: JSON.stringify(params),
        credentials: "omit",
      }).then(function (response) {
        if (response.status === 403 && current) {
          reason(response.clone()).then(function (text) {
            say("The server refused the credential (" + text + "): log in again.", true);
          });
        }
        return response.json();
      });
    };
  }

  var root = null;

  // (Re)renders GraphiQL with a fresh fetcher: a new credential makes it introspect again.
  function render() {
    if (!window.React || !window.ReactDOM || !window.GraphiQL) {
      $("graphiql").textContent = "GraphiQL's scripts did not load.";
      return;
    }
    if (!root) {
      root = window.ReactDOM.createRoot($("graphiql"));
    }
    var current = credential();
    root.render(
      window.React.createElement(window.GraphiQL, {
        key: current ? current.header : "anonymous",
        fetcher: makeFetcher(),
        defaultQuery: "# Log in above, then run a query (Ctrl-Enter), e.g.\n{\n  locations {\n    name\n  }\n}\n",
        defaultEditorToolsVisibility: false,
      })
    );
  }

  function start() {
    $("ferrobot-login").addEventListener("submit", logIn);
    $("ferrobot-token").addEventListener("submit", useToken);
    $("ferrobot-logout").addEventListener("click", logOut);
    showCredential();
    render();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
