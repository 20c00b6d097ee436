
SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

CREATE TABLE public.proposal_history (
    id integer NOT NULL,
    proposal_id integer NOT NULL,
    action character varying(16) NOT NULL,
    "user" character varying(64) NOT NULL,
    at timestamp without time zone NOT NULL,
    note text NOT NULL
);

CREATE SEQUENCE public.proposal_history_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.proposal_history_id_seq OWNED BY public.proposal_history.id;

CREATE TABLE public.proposals (
    id integer NOT NULL,
    adcode character varying(12) NOT NULL,
    name character varying(200) NOT NULL,
    type character varying(32) NOT NULL,
    host character varying(100) NOT NULL,
    services character varying(500) NOT NULL,
    reason text NOT NULL,
    lon double precision NOT NULL,
    lat double precision NOT NULL,
    status character varying(16) NOT NULL,
    submitted_by character varying(64) NOT NULL,
    submitted_at timestamp without time zone NOT NULL,
    reviewed_by character varying(64) NOT NULL,
    reviewed_at timestamp without time zone,
    review_comment text NOT NULL,
    impact text NOT NULL,
    station_id character varying(64) NOT NULL
);

CREATE SEQUENCE public.proposals_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.proposals_id_seq OWNED BY public.proposals.id;

CREATE TABLE public.station_history (
    id integer NOT NULL,
    station_id character varying(64) NOT NULL,
    action character varying(16) NOT NULL,
    before text,
    after text,
    "user" character varying(64) NOT NULL,
    at timestamp without time zone NOT NULL,
    batch character varying(40) NOT NULL,
    note character varying(500) NOT NULL
);

CREATE SEQUENCE public.station_history_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.station_history_id_seq OWNED BY public.station_history.id;

CREATE TABLE public.stations (
    id character varying(64) NOT NULL,
    name character varying(200) NOT NULL,
    type character varying(32) NOT NULL,
    groups character varying(200) NOT NULL,
    address character varying(500) NOT NULL,
    adcode character varying(12) NOT NULL,
    host character varying(100) NOT NULL,
    services character varying(500) NOT NULL,
    hours character varying(300) NOT NULL,
    capacity integer,
    phone character varying(100) NOT NULL,
    status character varying(16) NOT NULL,
    source character varying(500) NOT NULL,
    updated_at character varying(32) NOT NULL,
    lon double precision NOT NULL,
    lat double precision NOT NULL,
    orig_lon double precision,
    orig_lat double precision,
    orig_crs character varying(8) NOT NULL
);

CREATE TABLE public.users (
    id integer NOT NULL,
    username character varying(64) NOT NULL,
    password_hash character varying(256) NOT NULL,
    role character varying(16) NOT NULL,
    adcode character varying(12) NOT NULL,
    created_at timestamp without time zone NOT NULL,
    active integer NOT NULL
);

CREATE SEQUENCE public.users_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.users_id_seq OWNED BY public.users.id;

ALTER TABLE ONLY public.proposal_history ALTER COLUMN id SET DEFAULT nextval('public.proposal_history_id_seq'::regclass);

ALTER TABLE ONLY public.proposals ALTER COLUMN id SET DEFAULT nextval('public.proposals_id_seq'::regclass);

ALTER TABLE ONLY public.station_history ALTER COLUMN id SET DEFAULT nextval('public.station_history_id_seq'::regclass);

ALTER TABLE ONLY public.users ALTER COLUMN id SET DEFAULT nextval('public.users_id_seq'::regclass);

INSERT INTO public.proposal_history VALUES (1, 1, 'submit', 'tianhe', '2026-12-02 00:48:08.911787', '');
INSERT INTO public.proposal_history VALUES (2, 1, 'accept', 'admin1', '2026-12-02 00:48:08.920684', '同意');

INSERT INTO public.proposals VALUES (1, '440106', '体育中心站', '工会爱心驿站', '商超', '饮水', '午间订单多', 113.3245, 23.1385, '已采纳', 'tianhe', '2026-12-02 00:48:08.906412', 'admin1', '2026-12-02 00:48:08.92064', '同意', '{"new_demand": 12.5}', '');

INSERT INTO public.station_history VALUES (1, 'T1', 'create', NULL, '{"id": "T1", "name": "天河体育中心工会爱心驿站", "type": "工会爱心驿站", "groups": "外卖配送员、快递员、网约车司机、货车司机、其他户外劳动者", "address": "广州市天河区体育西路1号", "adcode": "440106", "host": "", "services": "饮水、充电、休息座椅", "hours": "08:00-20:00", "capacity": 10, "phone": "020-12345678", "status": "在运营", "source": "a.csv", "updated_at": "2026-12-02T00:48:05", "lon": 113.3245, "lat": 23.1375, "orig_lon": 113.3245, "orig_lat": 23.1375, "orig_crs": "wgs84"}', 'seed', '2026-12-02 00:48:08.536026', '8f124943820f42ae9973e8299aef8ed4', 'import a.csv');
INSERT INTO public.station_history VALUES (2, 'T2', 'create', NULL, '{"id": "T2", "name": "琶洲快递员之家", "type": "快递员之家", "groups": "快递员", "address": "广州市海珠区琶洲大道2号", "adcode": "440105", "host": "", "services": "饮水、热饭", "hours": "24h", "capacity": 6, "phone": "", "status": "在运营", "source": "a.csv", "updated_at": "2026-12-02T00:48:05", "lon": 113.365, "lat": 23.1, "orig_lon": 113.365, "orig_lat": 23.1, "orig_crs": "wgs84"}', 'seed', '2026-12-02 00:48:08.536026', '8f124943820f42ae9973e8299aef8ed4', 'import a.csv');
INSERT INTO public.station_history VALUES (3, 'T3', 'create', NULL, '{"id": "T3", "name": "白云物流司机之家", "type": "司机之家", "groups": "网约车司机、货车司机", "address": "广州市白云区太和镇3号", "adcode": "440111", "host": "", "services": "停车、淋浴", "hours": "24h", "capacity": 20, "phone": "", "status": "在运营", "source": "a.csv", "updated_at": "2026-12-02T00:48:05", "lon": 113.35, "lat": 23.33, "orig_lon": 113.35, "orig_lat": 23.33, "orig_crs": "wgs84"}', 'seed', '2026-12-02 00:48:08.536026', '8f124943820f42ae9973e8299aef8ed4', 'import a.csv');
INSERT INTO public.station_history VALUES (4, 'T1', 'update', '{"id": "T1", "name": "天河体育中心工会爱心驿站", "type": "工会爱心驿站", "groups": "外卖配送员、快递员、网约车司机、货车司机、其他户外劳动者", "address": "广州市天河区体育西路1号", "adcode": "440106", "host": "", "services": "饮水、充电、休息座椅", "hours": "08:00-20:00", "capacity": 10, "phone": "020-12345678", "status": "在运营", "source": "a.csv", "updated_at": "2026-12-02T00:48:05", "lon": 113.3245, "lat": 23.1375, "orig_lon": 113.3245, "orig_lat": 23.1375, "orig_crs": "wgs84"}', '{"id": "T1", "name": "天河体育中心工会爱心驿站", "type": "工会爱心驿站", "groups": "外卖配送员、快递员、网约车司机、货车司机、其他户外劳动者", "address": "广州市天河区体育西路1号", "adcode": "440106", "host": "", "services": "饮水、充电、休息座椅", "hours": "07:00-22:00", "capacity": 10, "phone": "020-1", "status": "在运营", "source": "a.csv", "updated_at": "2026-12-02T00:48:05", "lon": 113.3245, "lat": 23.1375, "orig_lon": 113.3245, "orig_lat": 23.1375, "orig_crs": "wgs84"}', 'plan1', '2026-12-02 00:48:08.560386', '', 'web edit');
INSERT INTO public.station_history VALUES (5, 'T3', 'delete', '{"id": "T3", "name": "白云物流司机之家", "type": "司机之家", "groups": "网约车司机、货车司机", "address": "广州市白云区太和镇3号", "adcode": "440111", "host": "", "services": "停车、淋浴", "hours": "24h", "capacity": 20, "phone": "", "status": "在运营", "source": "a.csv", "updated_at": "2026-12-02T00:48:05", "lon": 113.35, "lat": 23.33, "orig_lon": 113.35, "orig_lat": 23.33, "orig_crs": "wgs84"}', NULL, 'plan1', '2026-12-02 00:48:08.569592', '', 'closed');

INSERT INTO public.stations VALUES ('T2', '琶洲快递员之家', '快递员之家', '快递员', '广州市海珠区琶洲大道2号', '440105', '', '饮水、热饭', '24h', 6, '', '在运营', 'a.csv', '2026-12-02T00:48:05', 113.365, 23.1, 113.365, 23.1, 'wgs84');
INSERT INTO public.stations VALUES ('T1', '天河体育中心工会爱心驿站', '工会爱心驿站', '外卖配送员、快递员、网约车司机、货车司机、其他户外劳动者', '广州市天河区体育西路1号', '440106', '', '饮水、充电、休息座椅', '07:00-22:00', 10, '020-1', '在运营', 'a.csv', '2026-12-02T00:48:05', 113.3245, 23.1375, 113.3245, 23.1375, 'wgs84');

INSERT INTO public.users VALUES (1, 'admin1', 'scrypt:32768:8:1$HuVIh5bCNH2vt8Hx$ab4bf6dade5a975d10ca6362e394f3dfd81b7932f06f11dfa707a61d604acd4b2ea2647352ea94802528ff0aec5bf4a5c461f618e4ebde464cd6af8931ddac22', 'admin', '', '2026-12-02 00:48:08.738809', 1);
INSERT INTO public.users VALUES (2, 'tianhe', 'scrypt:32768:8:1$3tkmQBrm9MOovdGu$3705bf0bc2c2452cb0ef52b060ac8d89f73b4ae87329ea9e5465483802970b2d5e6bf10a4f5e9c9c7a28c1ce2193befe2fde0210edf583ee02535413c9956bc7', 'district', '440106', '2026-12-02 00:48:08.903469', 1);

SELECT pg_catalog.setval('public.proposal_history_id_seq', 2, true);

SELECT pg_catalog.setval('public.proposals_id_seq', 1, true);

SELECT pg_catalog.setval('public.station_history_id_seq', 5, true);

SELECT pg_catalog.setval('public.users_id_seq', 2, true);

ALTER TABLE ONLY public.proposal_history
    ADD CONSTRAINT proposal_history_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.proposals
    ADD CONSTRAINT proposals_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.station_history
    ADD CONSTRAINT station_history_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.stations
    ADD CONSTRAINT stations_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_username_key UNIQUE (username);

CREATE INDEX ix_proposal_history_proposal_id ON public.proposal_history USING btree (proposal_id);

CREATE INDEX ix_proposals_adcode ON public.proposals USING btree (adcode);

CREATE INDEX ix_proposals_status ON public.proposals USING btree (status);

CREATE INDEX ix_station_history_batch ON public.station_history USING btree (batch);

CREATE INDEX ix_station_history_station_id ON public.station_history USING btree (station_id);

CREATE INDEX ix_stations_adcode ON public.stations USING btree (adcode);

CREATE INDEX ix_stations_status ON public.stations USING btree (status);

CREATE INDEX ix_stations_type ON public.stations USING btree (type);

