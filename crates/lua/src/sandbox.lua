-- The sandbox every mammoth Lua VM runs its libraries in (see sandbox.rs).
--
-- Run once per VM, with the interpreter's own globals, before any library.
-- It returns `new_env(lib)`: the environment a library's chunk runs in, and
-- a function that ends the library's load. Nothing here is reachable from a
-- library except through the environments it builds, so the interpreter's
-- real globals (and `load`, `require`, `io`, `os`, `debug`...) stay hidden.
local G = {}
local frozen = setmetatable({}, { __mode = "k" })
local rawset0, error, type, tostring, format = rawset, error, type, tostring, string.format

for _, name in ipairs({
  "assert", "error", "ipairs", "next", "pairs", "rawequal", "rawget",
  "rawlen", "select", "tonumber", "tostring", "type",
  "setmetatable", "getmetatable",
}) do
  G[name] = _G[name]
end

-- A call over its time limit must end: its error cannot be caught.
local pcall0, xpcall0, stopped = pcall, xpcall, stopped
local function pass(ok, ...)
  if not ok and stopped() then
    error((...), 0)
  end
  return ok, ...
end
G.pcall = function(f, ...)
  return pass(pcall0(f, ...))
end
G.xpcall = function(f, handler, ...)
  return pass(xpcall0(f, handler, ...))
end

-- rawset must not get around a read-only table.
G.rawset = function(t, k, v)
  if frozen[t] then
    error("attempt to modify a read-only table", 2)
  end
  return rawset0(t, k, v)
end

local function readonly(t, what)
  local proxy = setmetatable({}, {
    __index = t,
    __newindex = function(_, k)
      error(format("attempt to modify read-only %s.%s", what, tostring(k)), 2)
    end,
    __metatable = false,
  })
  frozen[proxy] = true
  return proxy
end

string.dump = nil -- no bytecode out (and `load` is gone, so none in)
getmetatable("").__metatable = false
for _, lib in ipairs({ "string", "table", "math", "utf8" }) do
  G[lib] = readonly(_G[lib], lib)
end
G.mc = readonly(mc, "mc")

-- Every library's functions, by name, and the library that declared each.
local funcs, owner = {}, {}

local function new_env(lib)
  local loading = true
  local declared = {}
  local env = {}

  local function declare(name, fn, level)
    if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") or #name > 128 then
      error(format("'%s' is not a function name (letters, digits and '_', not first a digit)", tostring(name)), level)
    end
    if type(fn) ~= "function" then
      error(format("assignment to undeclared global '%s' (only functions may be declared)", name), level)
    end
    if G[name] ~= nil or name == "register" or name == "_G" then
      error(format("'%s' is a built-in name", name), level)
    end
    if owner[name] ~= nil and owner[name] ~= lib then
      error(format("function '%s' is already defined by library '%s'", name, owner[name]), level)
    end
    if owner[name] == nil then
      declared[#declared + 1] = name
    end
    funcs[name], owner[name] = fn, lib
  end

  local function register(name, fn)
    if not loading then
      error("register is only allowed while a library loads", 2)
    end
    declare(name, fn, 3)
  end

  -- Reads of the built-ins (`mc`, `tonumber`, `string`...) find them in
  -- `builtins`, a table: no metamethod call. Anything else falls through
  -- to its `__index` function.
  local builtins = {}
  for k, v in pairs(G) do
    builtins[k] = v
  end
  setmetatable(builtins, {
    __index = function(_, k)
      local v = funcs[k]
      if v ~= nil then
        return v
      end
      if k == "_G" then
        return env
      end
      if k == "register" then
        return register
      end
      error(format("attempt to read undeclared global '%s'", tostring(k)), 2)
    end,
  })
  setmetatable(env, {
    __index = builtins,
    __newindex = function(_, k, v)
      if not loading then
        error(format("assignment to undeclared global '%s'", tostring(k)), 2)
      end
      declare(k, v, 3)
    end,
    __metatable = false,
  })
  frozen[env] = true

  local function finish()
    loading = false
    return declared
  end
  return env, finish
end

-- A call: `dispatch(name, nkeys, key..., arg...)` runs function `name`
-- with its keys and its arguments as two arrays (built here, in Lua, from
-- values pushed once). The last call is a tail call, so the function runs
-- as the coroutine's only frame, as if called directly.
local select, move = select, table.move
local function dispatch(name, nkeys, ...)
  local f = funcs[name]
  if f == nil then
    error(format("unknown function '%s'", tostring(name)), 0)
  end
  local n = select("#", ...)
  if n == nkeys then
    return f({ ... }, {})
  elseif nkeys == 0 then
    return f({}, { ... })
  end
  local all = { ... }
  return f(move(all, 1, nkeys, 1, {}), move(all, nkeys + 1, n, 1, {}))
end

return new_env, dispatch
