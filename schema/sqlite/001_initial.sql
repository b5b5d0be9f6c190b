-- Stowage index schema for SQLite, version 1.
-- Modelled on Orthanc's index (resources, main tags, metadata, attachments, changes, exports,
-- recycling order) with revisions on metadata and attachments, labels, and a normalized value
-- column for case-insensitive matching.

CREATE TABLE GlobalProperties(
    server TEXT NOT NULL DEFAULT '',
    property INTEGER NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY(server, property)
);

CREATE TABLE Resources(
    internalId INTEGER PRIMARY KEY AUTOINCREMENT,
    resourceType INTEGER NOT NULL,
    publicId TEXT NOT NULL UNIQUE,
    parentId INTEGER REFERENCES Resources(internalId) ON DELETE CASCADE
);
CREATE INDEX ChildrenIndex ON Resources(parentId);
CREATE INDEX ResourceTypeIndex ON Resources(resourceType, internalId);

CREATE TABLE MainDicomTags(
    id INTEGER NOT NULL REFERENCES Resources(internalId) ON DELETE CASCADE,
    tagGroup INTEGER NOT NULL,
    tagElement INTEGER NOT NULL,
    value TEXT NOT NULL,
    normalized TEXT NOT NULL,
    PRIMARY KEY(id, tagGroup, tagElement)
);
CREATE INDEX MainDicomTagsValue ON MainDicomTags(tagGroup, tagElement, value);
CREATE INDEX MainDicomTagsNormalized ON MainDicomTags(tagGroup, tagElement, normalized);

CREATE TABLE Metadata(
    id INTEGER NOT NULL REFERENCES Resources(internalId) ON DELETE CASCADE,
    type INTEGER NOT NULL,
    value TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(id, type)
);

CREATE TABLE AttachedFiles(
    id INTEGER NOT NULL REFERENCES Resources(internalId) ON DELETE CASCADE,
    fileType INTEGER NOT NULL,
    uuid TEXT NOT NULL,
    compressedSize INTEGER NOT NULL,
    uncompressedSize INTEGER NOT NULL,
    compressionType INTEGER NOT NULL,
    uncompressedMD5 TEXT NOT NULL,
    compressedMD5 TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(id, fileType)
);

-- As in Orthanc, the changes of a deleted resource disappear with it.
CREATE TABLE Changes(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    changeType INTEGER NOT NULL,
    internalId INTEGER NOT NULL REFERENCES Resources(internalId) ON DELETE CASCADE,
    resourceType INTEGER NOT NULL,
    publicId TEXT NOT NULL,
    date TEXT NOT NULL
);
CREATE INDEX ChangesIndex ON Changes(internalId);

CREATE TABLE ExportedResources(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    resourceType INTEGER NOT NULL,
    publicId TEXT NOT NULL,
    remoteModality TEXT NOT NULL,
    patientId TEXT NOT NULL,
    studyInstanceUid TEXT NOT NULL,
    seriesInstanceUid TEXT NOT NULL,
    sopInstanceUid TEXT NOT NULL,
    date TEXT NOT NULL
);

-- Unprotected patients, least recently updated first.
CREATE TABLE PatientRecyclingOrder(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    patientId INTEGER NOT NULL REFERENCES Resources(internalId) ON DELETE CASCADE
);
CREATE INDEX PatientRecyclingIndex ON PatientRecyclingOrder(patientId);

CREATE TABLE Labels(
    id INTEGER NOT NULL REFERENCES Resources(internalId) ON DELETE CASCADE,
    label TEXT NOT NULL,
    PRIMARY KEY(id, label)
);
CREATE INDEX LabelsIndex ON Labels(label);
