-- Shared by both engines (no dialect suffix): a patient's earlier ECGs within a county
-- (GET /api/studies/{id}/previous), found through their recordings' patient reference.
CREATE INDEX IF NOT EXISTS recordings_patient ON recordings(county_id, patient_ref);
