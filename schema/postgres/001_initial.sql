-- Stowage index schema for PostgreSQL, version 1.
-- The same model as schema/sqlite/001_initial.sql (resources, main tags, metadata, attachments,
-- changes, exports, recycling order, labels, with revisions and a normalized value column),
-- shared by several Stowage processes writing at once.
--
-- Text that is compared or sorted uses the "C" collation so that ordering and range matching
-- are bytewise, as in SQLite, whatever the database's default collation.
-- Applied by the backend inside one transaction, under an advisory lock.

CREATE TABLE GlobalProperties(
    server TEXT COLLATE "C" NOT NULL DEFAULT '',
    property INTEGER NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY(server, property)
);

CREATE TABLE Resources(
    internalId BIGSERIAL PRIMARY KEY,
    resourceType INTEGER NOT NULL,
    publicId TEXT COLLATE "C" NOT NULL UNIQUE,
    parentId BIGINT REFERENCES Resources(internalId) ON DELETE CASCADE
);
CREATE INDEX ChildrenIndex ON Resources(parentId);
CREATE INDEX ResourceTypeIndex ON Resources(resourceType, internalId);

CREATE TABLE MainDicomTags(
    id BIGINT NOT NULL REFERENCES Resources(internalId) ON DELETE CASCADE,
    tagGroup INTEGER NOT NULL,
    tagElement INTEGER NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    -- stowage_core::find::normalize_for_matching(value), computed by the server.
    normalized TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY(id, tagGroup, tagElement)
);
CREATE INDEX MainDicomTagsValue ON MainDicomTags(tagGroup, tagElement, value);
CREATE INDEX MainDicomTagsNormalized ON MainDicomTags(tagGroup, tagElement, normalized);

CREATE TABLE Metadata(
    id BIGINT NOT NULL REFERENCES Resources(internalId) ON DELETE CASCADE,
    type INTEGER NOT NULL,
    value TEXT NOT NULL,
    revision BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY(id, type)
);

CREATE TABLE AttachedFiles(
    id BIGINT NOT NULL REFERENCES Resources(internalId) ON DELETE CASCADE,
    fileType INTEGER NOT NULL,
    uuid TEXT NOT NULL,
    compressedSize BIGINT NOT NULL,
    uncompressedSize BIGINT NOT NULL,
    compressionType INTEGER NOT NULL,
    uncompressedMD5 TEXT NOT NULL,
    compressedMD5 TEXT NOT NULL,
    revision BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY(id, fileType)
);

-- As in Orthanc, the changes of a deleted resource disappear with it. The sequence behind
-- `seq` is never reset, so the last change index survives deletions and clearing.
CREATE TABLE Changes(
    seq BIGSERIAL PRIMARY KEY,
    changeType INTEGER NOT NULL,
    internalId BIGINT NOT NULL REFERENCES Resources(internalId) ON DELETE CASCADE,
    resourceType INTEGER NOT NULL,
    publicId TEXT NOT NULL,
    date TEXT NOT NULL
);
CREATE INDEX ChangesIndex ON Changes(internalId);

CREATE TABLE ExportedResources(
    seq BIGSERIAL PRIMARY KEY,
    resourceType INTEGER NOT NULL,
    publicId TEXT NOT NULL,
    remoteModality TEXT NOT NULL,
    patientId TEXT NOT NULL,
    studyInstanceUid TEXT NOT NULL,
    seriesInstanceUid TEXT NOT NULL,
    sopInstanceUid TEXT NOT NULL,
    date TEXT NOT NULL
);

-- Unprotected patients, least recently updated first. One row per patient (the key makes
-- concurrent unprotections collide instead of duplicating the patient).
CREATE TABLE PatientRecyclingOrder(
    seq BIGSERIAL NOT NULL,
    patientId BIGINT PRIMARY KEY REFERENCES Resources(internalId) ON DELETE CASCADE
);
CREATE INDEX PatientRecyclingIndex ON PatientRecyclingOrder(seq);

CREATE TABLE Labels(
    id BIGINT NOT NULL REFERENCES Resources(internalId) ON DELETE CASCADE,
    label TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY(id, label)
);
CREATE INDEX LabelsIndex ON Labels(label);

-- CREATE_INSTANCE in one round trip: get-or-create the four levels (each statement of a
-- PL/pgSQL function sees the rows committed before it started, so INSERT ... ON CONFLICT DO
-- NOTHING followed by a SELECT finds a row another writer has just created) and keep the
-- recycling order. A level deleted concurrently raises serialization_failure (replayed).
CREATE FUNCTION StowageGetOrCreate(level INTEGER, hash TEXT, parent BIGINT,
                                   OUT key BIGINT, OUT created BOOLEAN) AS $$
BEGIN
    INSERT INTO Resources(resourceType, publicId, parentId) VALUES (level, hash, parent)
        ON CONFLICT (publicId) DO NOTHING RETURNING internalId INTO key;
    IF key IS NOT NULL THEN
        created := TRUE;
        RETURN;
    END IF;
    created := FALSE;
    SELECT internalId INTO key FROM Resources WHERE publicId = hash;
    IF key IS NULL THEN
        RAISE EXCEPTION 'resource % was deleted concurrently', hash
            USING ERRCODE = 'serialization_failure';
    END IF;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION StowageCreateInstance(patient TEXT, study TEXT, series TEXT, instance TEXT,
    OUT isNewInstance BOOLEAN, OUT instanceKey BIGINT, OUT seriesKey BIGINT,
    OUT studyKey BIGINT, OUT patientKey BIGINT, OUT isNewSeries BOOLEAN,
    OUT isNewStudy BOOLEAN, OUT isNewPatient BOOLEAN) AS $$
BEGIN
    isNewSeries := FALSE;
    isNewStudy := FALSE;
    isNewPatient := FALSE;
    SELECT i.internalId, se.internalId, st.internalId, p.internalId
        INTO instanceKey, seriesKey, studyKey, patientKey
        FROM Resources i
        JOIN Resources se ON se.internalId = i.parentId
        JOIN Resources st ON st.internalId = se.parentId
        JOIN Resources p ON p.internalId = st.parentId
        WHERE i.publicId = instance;
    IF instanceKey IS NOT NULL THEN
        isNewInstance := FALSE;
        RETURN;
    END IF;

    SELECT g.key, g.created INTO patientKey, isNewPatient FROM StowageGetOrCreate(0, patient, NULL) g;
    SELECT g.key, g.created INTO studyKey, isNewStudy FROM StowageGetOrCreate(1, study, patientKey) g;
    SELECT g.key, g.created INTO seriesKey, isNewSeries FROM StowageGetOrCreate(2, series, studyKey) g;
    SELECT g.key, g.created INTO instanceKey, isNewInstance FROM StowageGetOrCreate(3, instance, seriesKey) g;
    IF NOT isNewInstance THEN
        -- Another writer stored the same instance meanwhile: nothing was created here.
        isNewSeries := FALSE;
        isNewStudy := FALSE;
        isNewPatient := FALSE;
        RETURN;
    END IF;

    IF isNewPatient THEN
        INSERT INTO PatientRecyclingOrder(patientId) VALUES (patientKey);
    ELSE
        -- Move to the recent end, unless another writer is doing just that right now (its row
        -- lock would otherwise serialize every writer of this patient until it commits).
        -- Protected patients have no row and keep it so.
        UPDATE PatientRecyclingOrder SET seq = DEFAULT
            WHERE patientId = (SELECT o.patientId FROM PatientRecyclingOrder o
                               WHERE o.patientId = patientKey FOR UPDATE SKIP LOCKED);
    END IF;
END;
$$ LANGUAGE plpgsql;
