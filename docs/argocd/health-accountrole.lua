-- Argo CD health of apigw.crossaccount.io/AccountRole (cluster-scoped), read from the
-- conditions of the operator's own check that it can assume the role.
-- Progressing until the check has run for the role's generation; Degraded when Stalled is True
-- (STS refused the role: fix its trust policy or the external id); Healthy when Ready is True
-- (the role was assumed; the message names the account).
local hs = {}

local function find(conditions, type_)
  for _, c in ipairs(conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function says(c)
  local reason = c.reason or ""
  local message = c.message or ""
  if reason == "" then
    return message
  end
  if message == "" then
    return reason
  end
  return reason .. ": " .. message
end

if obj.status == nil or obj.status.conditions == nil or #obj.status.conditions == 0 then
  hs.status = "Progressing"
  hs.message = "waiting for the controller to check the role"
  return hs
end
local conditions = obj.status.conditions
local ready = find(conditions, "Ready")

if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "deleting"
  if ready ~= nil and ready.status ~= "True" then
    hs.message = "deleting: " .. says(ready)
  end
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil then
  local observed = obj.status.observedGeneration
  if observed ~= nil and observed < generation then
    hs.status = "Progressing"
    hs.message = "waiting for the controller to act on generation " .. tostring(generation)
    return hs
  end
  for _, c in ipairs(conditions) do
    if c.observedGeneration ~= nil and c.observedGeneration < generation then
      hs.status = "Progressing"
      hs.message = "waiting for the controller to act on generation " .. tostring(generation) ..
        " (" .. tostring(c.type) .. " is of generation " .. tostring(c.observedGeneration) .. ")"
      return hs
    end
  end
end

local stalled = find(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = says(stalled)
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  if hs.message == "" and obj.status.accountId ~= nil then
    hs.message = "assumed; account " .. obj.status.accountId
  end
  return hs
end

hs.status = "Progressing"
if ready ~= nil then
  hs.message = says(ready)
else
  hs.message = "waiting for the controller"
end
return hs
