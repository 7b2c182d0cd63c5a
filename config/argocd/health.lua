-- Argo CD health of the iot.productoperator.dev kinds (IotProduct, ProductDistribution,
-- IotConsumerGroup, PlatformAccount). Written for the Lua environment Argo CD gives health scripts (base and
-- table libraries only). It reads the kstatus conventions the operator follows:
--   no status yet, or status.observedGeneration behind metadata.generation -> Progressing
--   Stalled=True (needs a person; reason Paused)                        -> Degraded (Suspended)
--   Ready=True for the current generation                                 -> Healthy
--   anything else (Reconciling=True: work in progress, transient retries) -> Progressing
-- docs/conditions.md lists every reason and whether it is transient or needs a person.
local hs = {}

local function condition(type)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function describe(c)
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.reason
end

local generation = obj.metadata.generation
local stalled = condition("Stalled")

if obj.metadata.deletionTimestamp ~= nil then
  if stalled ~= nil and stalled.status == "True" then
    hs.status = "Degraded"
    hs.message = "Deletion is blocked. " .. describe(stalled)
  else
    hs.status = "Progressing"
    hs.message = "Being deleted"
  end
  return hs
end

if obj.status == nil or obj.status.observedGeneration == nil or obj.status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

if stalled ~= nil and stalled.status == "True" then
  if stalled.reason == "Paused" then
    hs.status = "Suspended"
  else
    hs.status = "Degraded"
  end
  hs.message = describe(stalled)
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" and ready.observedGeneration == generation then
  hs.status = "Healthy"
  hs.message = ready.message
  return hs
end

hs.status = "Progressing"
local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = describe(reconciling)
elseif ready ~= nil then
  hs.message = describe(ready)
else
  hs.message = "Waiting for the operator"
end
return hs
