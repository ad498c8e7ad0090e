"""The gRPC edge: conversion, status mapping, the servicer and the composition root."""
